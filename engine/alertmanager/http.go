package alertmanager

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/prometheus/common/config"
)

// HTTPConfig says how to reach the Alertmanagers, as Prometheus'
// alertmanager_config does: TLS with a CA, a client certificate and a
// server name, and basic auth or a bearer token read from files. Files are
// read on every request, so a rotated password, token or certificate is
// used without a restart.
type HTTPConfig struct {
	CAFile             string
	CertFile, KeyFile  string
	ServerName         string
	InsecureSkipVerify bool
	// BasicAuthUsername with BasicAuthPasswordFile sends HTTP basic auth;
	// user info in a URL does the same for that URL only.
	BasicAuthUsername     string
	BasicAuthPasswordFile string
	// BearerTokenFile sends "Authorization: Bearer <its content>".
	BearerTokenFile string
}

// roundTripper builds the transport of one Alertmanager, with its own
// connection pool, so a hung one cannot hold connections another needs.
func (h HTTPConfig) roundTripper(u *url.URL) (http.RoundTripper, error) {
	cfg := config.DefaultHTTPClientConfig
	cfg.TLSConfig = config.TLSConfig{
		CAFile: h.CAFile, CertFile: h.CertFile, KeyFile: h.KeyFile,
		ServerName: h.ServerName, InsecureSkipVerify: h.InsecureSkipVerify,
	}
	if (h.CertFile == "") != (h.KeyFile == "") {
		return nil, errors.New("a client certificate needs both a certificate file and a key file")
	}
	if h.BasicAuthUsername != "" || h.BasicAuthPasswordFile != "" {
		if h.BasicAuthUsername == "" {
			return nil, errors.New("a basic auth password file needs a username")
		}
		cfg.BasicAuth = &config.BasicAuth{Username: h.BasicAuthUsername, PasswordFile: h.BasicAuthPasswordFile}
	}
	if u.User != nil {
		if cfg.BasicAuth != nil {
			return nil, errors.New("basic auth is configured both in the URL and by flags; use one")
		}
		pass, _ := u.User.Password()
		cfg.BasicAuth = &config.BasicAuth{Username: u.User.Username(), Password: config.Secret(pass)}
	}
	if h.BearerTokenFile != "" {
		if cfg.BasicAuth != nil {
			return nil, errors.New("basic auth and a bearer token are mutually exclusive")
		}
		cfg.Authorization = &config.Authorization{Type: "Bearer", CredentialsFile: h.BearerTokenFile}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rt, err := config.NewRoundTripperFromConfig(cfg, "alertmanager")
	if err != nil {
		return nil, fmt.Errorf("TLS or auth: %w", err)
	}
	return rt, nil
}
