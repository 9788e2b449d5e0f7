package hubble

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
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

// Dial returns a connection to the Hubble Relay at address (host:port or any
// gRPC target). It does not connect: the connection is made by the first
// stream, so an unreachable relay shows up as a stream error that Client's
// reconnect loop logs and retries, rather than as a startup failure. Only
// invalid TLS settings are reported here.
func Dial(address string, tc TLSConfig) (*grpc.ClientConn, error) {
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
		// Keep gRPC's own reconnect backoff within Client's 1 s – 1 min
		// range, so a recovered relay is not left waiting for the default
		// two-minute ceiling.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: grpcbackoff.Config{
				BaseDelay:  DefaultBackoffMin,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   DefaultBackoffMax,
			},
			MinConnectTimeout: 20 * time.Second,
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("creating gRPC client for %s: %w", address, err)
	}
	return conn, nil
}
