package hubble

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

// ErrIncompleteClientCert is returned when only one of a client certificate
// and its key is configured: mTLS needs both, and silently falling back to no
// client certificate would only fail later, at the relay, less clearly.
var ErrIncompleteClientCert = errors.New("TLS client certificate and key must be given together")

// TLSConfig describes how to reach a Hubble Relay over TLS. Relay serves
// certificates for *.hubble-relay.cilium.io, so ServerName usually needs to
// be set (for example to "ui.hubble-relay.cilium.io") when dialling it by
// service name or IP.
type TLSConfig struct {
	// Enabled turns TLS on; when false the connection is plaintext.
	Enabled bool
	// CAFile verifies the relay's certificate; empty means the system pool.
	CAFile string
	// CertFile and KeyFile are the client certificate for mTLS, both or
	// neither.
	CertFile, KeyFile string
	// ServerName is the name expected in the relay's certificate.
	ServerName string
	// InsecureSkipVerify disables verification of the relay's certificate.
	// For debugging only.
	InsecureSkipVerify bool
}

// Config builds the crypto/tls configuration, reading the CA and client
// certificate files. It returns nil, nil when TLS is disabled. Relay only
// speaks TLS 1.3, so that is the minimum.
func (t TLSConfig) Config() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify,
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS CA file %s contains no valid PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case t.CertFile == "" && t.KeyFile == "":
	case t.CertFile == "" || t.KeyFile == "":
		return nil, fmt.Errorf("%w (cert %q, key %q)", ErrIncompleteClientCert, t.CertFile, t.KeyFile)
	default:
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading TLS client certificate %s and key %s: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// DialOptions tune the connection beyond TLS. The zero value uses the
// defaults.
type DialOptions struct {
	// KeepaliveTime is how long a quiet connection waits before pinging the
	// relay, and KeepaliveTimeout how long it waits for the answer before
	// the connection is declared dead. Zero: DefaultKeepaliveTime and
	// DefaultKeepaliveTimeout.
	KeepaliveTime, KeepaliveTimeout time.Duration
	// MaxFlowSize is the largest flow decoded (DefaultMaxFlowSize when
	// zero). A larger one is skipped, counted and logged by the Client
	// (GapOversized) instead of failing the stream, as gRPC's own 4 MiB
	// limit would, over and over, each time the stream resumes.
	MaxFlowSize int
	// FieldMask, when set, is the flow fields decoded (give the mask the
	// stream asks for, ClientConfig.FieldMask): a relay that does not
	// apply the request's mask (an older Hubble, a proxy) sends every
	// field, and the others are skipped undecoded, as if it had.
	FieldMask *fieldmaskpb.FieldMask
	// Registerer, when set, gets the decoder's metric
	// (hubble_sentinel_hubble_responses_decoded_total).
	Registerer prometheus.Registerer
	// BackoffMin and BackoffMax bound gRPC's connect backoff; the Client
	// resets it before each retry, so it only paces connection attempts
	// between them. Zero: DefaultBackoffMin and DefaultBackoffMax.
	BackoffMin, BackoffMax time.Duration
}

// Connection defaults.
const (
	// DefaultKeepaliveTime is above gRPC's 10 s floor. A quiet stream's
	// pings would count against Relay's default 5-minute ping policy, but
	// the Client's ServerStatus probe makes the relay write every
	// DefaultStatusInterval, which resets the count.
	DefaultKeepaliveTime    = 30 * time.Second
	DefaultKeepaliveTimeout = 10 * time.Second
	// DefaultMaxFlowSize admits any realistic L7 flow (a 5 MiB one
	// included), where gRPC's default would wedge the stream at 4 MiB.
	DefaultMaxFlowSize = 16 << 20
)

// Dial returns a connection to the Hubble Relay at address (host:port or any
// gRPC target). It does not connect: the connection is made by the first
// stream, so an unreachable relay shows up as a stream error that Client's
// reconnect loop logs and retries, rather than as a startup failure. Only
// invalid TLS settings are reported here. Give the connection to the Client
// as ClientConfig.Conn too, for fast reconnects.
func Dial(address string, tc TLSConfig, opts ...DialOptions) (*grpc.ClientConn, error) {
	var o DialOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.KeepaliveTime <= 0 {
		o.KeepaliveTime = DefaultKeepaliveTime
	}
	if o.KeepaliveTimeout <= 0 {
		o.KeepaliveTimeout = DefaultKeepaliveTimeout
	}
	if o.MaxFlowSize <= 0 {
		o.MaxFlowSize = DefaultMaxFlowSize
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	creds := insecure.NewCredentials()
	if tc.Enabled {
		cfg, err := tc.Config()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	}
	conn, err := grpc.NewClient(address,
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: grpcbackoff.Config{
				BaseDelay:  o.BackoffMin,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   o.BackoffMax,
			},
			MinConnectTimeout: 20 * time.Second,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:    o.KeepaliveTime,
			Timeout: o.KeepaliveTimeout,
		}),
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(streamWindow),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(hardMessageLimit(o.MaxFlowSize)),
			grpc.ForceCodecV2(newFlowCodec(o.MaxFlowSize, o.FieldMask).counted(o.Registerer)),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("creating gRPC client for %s: %w", address, err)
	}
	return conn, nil
}

// streamWindow is the HTTP/2 flow-control window of the flow stream and
// its connection. Set, it turns off gRPC's bandwidth-delay estimation,
// which pings the relay on data received whenever no ping is out: on a
// fast link, one ping and one pong for every few flows.
const streamWindow = 1 << 20

// explain turns the errors of the common connection mistakes into one
// sentence saying what to change, or "" for other errors.
func explain(err error, tlsEnabled bool) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(msg, x) {
				return true
			}
		}
		return false
	}
	switch {
	case has("first record does not look like a TLS handshake"):
		return "the relay speaks plaintext, not TLS: drop the --hubble.tls.* flags (or enable TLS on the relay)"
	case !tlsEnabled && has("server preface", "http2: frame too large"):
		return "the relay closed a plaintext connection: it probably requires TLS; set --hubble.tls.ca-file (and --hubble.tls.server-name, e.g. ui.hubble-relay.cilium.io)"
	case has("certificate is valid for", "certificate is not valid for any names"):
		return "the relay's certificate is not valid for the name dialled: set --hubble.tls.server-name to a name it holds (Cilium's relay: ui.hubble-relay.cilium.io)"
	case has("certificate signed by unknown authority"):
		return "the relay's certificate is signed by a CA not trusted: set --hubble.tls.ca-file to the CA that issued it (Cilium: the hubble-relay-client-certs secret's ca.crt)"
	case has("certificate has expired", "not yet valid"):
		return "the relay's certificate has expired or is not yet valid (or this machine's clock is wrong): renew the relay's certificates"
	case has("certificate required"):
		return "the relay requires a client certificate (mTLS): set --hubble.tls.cert-file and --hubble.tls.key-file"
	case has("bad certificate", "unknown certificate authority", "unknown certificate"):
		return "the relay rejected the client certificate: check --hubble.tls.cert-file and --hubble.tls.key-file are issued by the relay's client CA"
	}
	return ""
}
