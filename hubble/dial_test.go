package hubble

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/test/testrelay"
)

func TestTLSConfig(t *testing.T) {
	pki, err := testrelay.NewPKI(t.TempDir())
	require.NoError(t, err)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not-pem.crt")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o644))
	missing := filepath.Join(dir, "missing.crt")

	tests := []struct {
		name    string
		cfg     TLSConfig
		wantErr []string // substrings of the error
		check   func(t *testing.T, c *tls.Config)
	}{
		{
			name:  "disabled",
			cfg:   TLSConfig{CAFile: missing},
			check: func(t *testing.T, c *tls.Config) { require.Nil(t, c) },
		},
		{
			name: "CA and server name",
			cfg:  TLSConfig{Enabled: true, CAFile: pki.CAFile, ServerName: "ui.hubble-relay.cilium.io"},
			check: func(t *testing.T, c *tls.Config) {
				require.Equal(t, uint16(tls.VersionTLS13), c.MinVersion)
				require.Equal(t, "ui.hubble-relay.cilium.io", c.ServerName)
				require.NotNil(t, c.RootCAs)
				require.Empty(t, c.Certificates)
				require.False(t, c.InsecureSkipVerify)
			},
		},
		{
			name: "mTLS",
			cfg:  TLSConfig{Enabled: true, CertFile: pki.ClientCertFile, KeyFile: pki.ClientKeyFile},
			check: func(t *testing.T, c *tls.Config) {
				require.Len(t, c.Certificates, 1)
				require.Nil(t, c.RootCAs, "system roots")
			},
		},
		{
			name:  "insecure skip verify",
			cfg:   TLSConfig{Enabled: true, InsecureSkipVerify: true},
			check: func(t *testing.T, c *tls.Config) { require.True(t, c.InsecureSkipVerify) },
		},
		{
			name:    "missing CA file",
			cfg:     TLSConfig{Enabled: true, CAFile: missing},
			wantErr: []string{missing, "no such file"},
		},
		{
			name:    "CA file without PEM",
			cfg:     TLSConfig{Enabled: true, CAFile: notPEM},
			wantErr: []string{notPEM, "no valid PEM certificate"},
		},
		{
			name:    "certificate without key",
			cfg:     TLSConfig{Enabled: true, CertFile: pki.ClientCertFile},
			wantErr: []string{"must be given together", pki.ClientCertFile},
		},
		{
			name:    "key without certificate",
			cfg:     TLSConfig{Enabled: true, KeyFile: pki.ClientKeyFile},
			wantErr: []string{"must be given together", pki.ClientKeyFile},
		},
		{
			name:    "key does not match certificate",
			cfg:     TLSConfig{Enabled: true, CertFile: pki.ClientCertFile, KeyFile: pki.ServerKeyFile},
			wantErr: []string{pki.ClientCertFile, pki.ServerKeyFile, "private key does not match"},
		},
		{
			name:    "unreadable key",
			cfg:     TLSConfig{Enabled: true, CertFile: pki.ClientCertFile, KeyFile: missing},
			wantErr: []string{pki.ClientCertFile, missing},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.cfg.Config()
			if tt.wantErr != nil {
				require.Error(t, err)
				for _, s := range tt.wantErr {
					require.ErrorContains(t, err, s)
				}
				// Dial reports the same error, before any connection.
				_, dialErr := Dial("127.0.0.1:4245", tt.cfg)
				require.EqualError(t, dialErr, err.Error())
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestIncompleteClientCertIsSentinel(t *testing.T) {
	_, err := TLSConfig{Enabled: true, CertFile: "client.crt"}.Config()
	require.ErrorIs(t, err, ErrIncompleteClientCert)
}

func TestDialIsLazy(t *testing.T) {
	conn, err := Dial("127.0.0.1:1", TLSConfig{})
	require.NoError(t, err, "nothing listens there, but Dial does not connect")
	require.NoError(t, conn.Close())

	_, err = Dial("dns:///%%bad", TLSConfig{})
	require.Error(t, err)
}

func TestExplain(t *testing.T) {
	tests := []struct {
		err  string
		tls  bool
		want string
	}{
		{`connection error: desc = "error reading server preface: EOF"`, false, "probably requires TLS"},
		{`connection error: desc = "error reading server preface: EOF"`, true, ""},
		{`authentication handshake failed: tls: first record does not look like a TLS handshake`, true, "speaks plaintext"},
		{`x509: certificate is valid for *.hubble-relay.cilium.io, localhost, not relay.example.com`, true, "--hubble.tls.server-name"},
		{`x509: certificate signed by unknown authority`, true, "--hubble.tls.ca-file"},
		{`x509: certificate has expired or is not yet valid: current time ...`, true, "expired"},
		{`remote error: tls: certificate required`, true, "--hubble.tls.cert-file"},
		{`dial tcp 127.0.0.1:4245: connect: connection refused`, false, ""},
		{`error reading from server: read: connection reset by peer`, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.err, func(t *testing.T) {
			got := explain(errors.New(tt.err), tt.tls)
			if tt.want == "" {
				require.Empty(t, got)
				return
			}
			require.Contains(t, got, tt.want)
		})
	}
}
