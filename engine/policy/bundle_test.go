package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// repoPolicies are the bundled policies, as a directory.
var repoPolicies = os.DirFS("../../policies")

func writeBundle(t testing.TB, fsys fs.FS, revision string, sign *BundleSigning) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, WriteBundle(&buf, fsys, ".", revision, sign))
	return buf.Bytes()
}

func rsaKeys(t testing.TB) (priv, pub []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// TestReadBundleRepoPolicies: a bundle of the bundled policies loads the
// same policies, data and tests as the directory does.
func TestReadBundleRepoPolicies(t *testing.T) {
	ctx := context.Background()
	b, err := ReadBundle(bytes.NewReader(writeBundle(t, repoPolicies, "rev-1", nil)), BundleLimits{}, nil)
	require.NoError(t, err)
	require.Equal(t, "rev-1", b.Revision)
	require.False(t, b.Signed)

	fromDir, err := Load(ctx, repoPolicies, ".")
	require.NoError(t, err)
	fromBundle, err := Load(ctx, b.FS, ".")
	require.NoError(t, err)
	require.Equal(t, policyIDs(fromDir), policyIDs(fromBundle))
	require.Equal(t, fromDir.Exceptions(), fromBundle.Exceptions())

	report, err := Test(ctx, b.FS, ".", TestOptions{})
	require.NoError(t, err)
	require.NoError(t, report.Err())
	dirReport, err := Test(ctx, repoPolicies, ".", TestOptions{})
	require.NoError(t, err)
	require.Len(t, report.Results, len(dirReport.Results), "the bundle's tests are the directory's")

	require.NotEmpty(t, fromDir.Groupings())
	require.Equal(t, fromDir.Groupings(), fromBundle.Groupings())
}

func policyIDs(s *Set) []string {
	var out []string
	for _, p := range s.Policies() {
		out = append(out, p.ID)
	}
	return out
}

// TestReadBundleData: data.json in directory a/b of a bundle is data.a.b,
// as OPA loads it.
func TestReadBundleData(t *testing.T) {
	raw := tarGz(t, map[string]string{
		"/data.json":                   `{"top": 1}`,
		"/data/test/data.json":         `{"bad_ports": [23]}`,
		"/sentinel/lib/lib.rego":       lib,
		"/sentinel/test/bad_port.rego": portPolicy,
	})
	b, err := ReadBundle(bytes.NewReader(raw), BundleLimits{}, nil)
	require.NoError(t, err)
	set, err := Load(context.Background(), b.FS, ".")
	require.NoError(t, err)
	require.Equal(t, []string{"BadPort"}, policyIDs(set))
	data, err := fs.ReadFile(b.FS, "data.json")
	require.NoError(t, err)
	require.JSONEq(t, `{"top": 1, "data": {"test": {"bad_ports": [23]}}}`, string(data))
}

func TestReadBundleSigned(t *testing.T) {
	priv, pub := rsaKeys(t)
	_, otherPub := rsaKeys(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecDER, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	require.NoError(t, err)
	ecPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER})
	signed := writeBundle(t, repoPolicies, "signed", &BundleSigning{Key: priv, Algorithm: "RS256"})
	hmac := writeBundle(t, repoPolicies, "hmac", &BundleSigning{Key: []byte("s3cret"), Algorithm: "HS256", KeyID: "team"})
	unsigned := writeBundle(t, repoPolicies, "unsigned", nil)

	for _, tc := range []struct {
		name    string
		raw     []byte
		key     *BundleKey
		wantErr string
	}{
		{"rs256", signed, &BundleKey{Key: pub}, ""},
		{"hs256", hmac, &BundleKey{Key: []byte("s3cret"), KeyID: "team"}, ""},
		{"wrong key", signed, &BundleKey{Key: otherPub}, "verify"},
		{"wrong secret", hmac, &BundleKey{Key: []byte("guess"), KeyID: "team"}, "verify"},
		{"ec key for rsa signature", signed, &BundleKey{Key: ecPub}, "cannot verify"},
		{"secret for rsa signature", signed, &BundleKey{Key: []byte("s3cret")}, "not a PEM public key"},
		{"public key for hmac signature", hmac, &BundleKey{Key: pub, KeyID: "team"}, "is a PEM key"},
		{"unsigned with a key", unsigned, &BundleKey{Key: pub}, "not signed"},
		{"signed without a key", signed, nil, "no verification key"},
		{"scope mismatch", signed, &BundleKey{Key: pub, Scope: "write"}, "scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ReadBundle(bytes.NewReader(tc.raw), BundleLimits{}, tc.key)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.True(t, b.Signed)
			_, err = Load(context.Background(), b.FS, ".")
			require.NoError(t, err)
		})
	}
}

// TestReadBundleTampered: a file changed after signing is refused.
func TestReadBundleTampered(t *testing.T) {
	priv, pub := rsaKeys(t)
	files := untar(t, writeBundle(t, repoPolicies, "signed", &BundleSigning{Key: priv, Algorithm: "RS256"}))
	files["/lib/lib.rego"] += "\n# tampered\n"
	_, err := ReadBundle(bytes.NewReader(tarGz(t, files)), BundleLimits{}, &BundleKey{Key: pub})
	require.ErrorContains(t, err, "lib/lib.rego")
	files = untar(t, writeBundle(t, repoPolicies, "signed", &BundleSigning{Key: priv, Algorithm: "RS256"}))
	files["/extra.rego"] = "package extra\n"
	_, err = ReadBundle(bytes.NewReader(tarGz(t, files)), BundleLimits{}, &BundleKey{Key: pub})
	require.ErrorContains(t, err, "extra.rego")
}

func TestReadBundleBroken(t *testing.T) {
	good := writeBundle(t, repoPolicies, "r", nil)
	big := tarGz(t, map[string]string{"/a.rego": "package a\n", "/data.json": `{"x": "` + string(bytes.Repeat([]byte("x"), 4096)) + `"}`})
	many := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d"} {
		many["/"+n+".rego"] = "package " + n + "\n"
	}
	for _, tc := range []struct {
		name    string
		raw     []byte
		limits  BundleLimits
		wantErr string
	}{
		{"empty", nil, BundleLimits{}, "not a .tar.gz"},
		{"not gzip", []byte("hello, world"), BundleLimits{}, "not a .tar.gz"},
		{"truncated", good[:len(good)/2], BundleLimits{}, "unexpected EOF"},
		{"compressed too large", good, BundleLimits{MaxBytes: 100}, "larger than 100 bytes"},
		{"file too large", big, BundleLimits{MaxFileBytes: 1000}, "data.json"},
		{"uncompressed too large", big, BundleLimits{MaxUncompressedBytes: 2000}, "uncompressed"},
		{"too many files", tarGz(t, many), BundleLimits{MaxFiles: 3}, "more than 3 files"},
		{"bad rego", tarGz(t, map[string]string{"/a.rego": "package a\nthis is not rego {"}), BundleLimits{}, "a.rego"},
		{"bad data", tarGz(t, map[string]string{"/x/data.json": "{"}), BundleLimits{}, "x/data.json"},
		{"path escapes", tarGz(t, map[string]string{"../../etc/a.rego": "package a\n"}), BundleLimits{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ReadBundle(bytes.NewReader(tc.raw), tc.limits, nil)
			if tc.wantErr == "" {
				// A path outside the bundle is either refused or kept inside.
				if err == nil {
					_, err := fs.Stat(b.FS, "etc/a.rego")
					require.NoError(t, err)
				}
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func tarGz(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

func untar(t testing.TB, raw []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		var b bytes.Buffer
		_, err = b.ReadFrom(tr)
		require.NoError(t, err)
		out[h.Name] = b.String()
	}
	return out
}

// FuzzBundle: any bytes read as a bundle give a bundle or an error, within
// the limits, and never a panic.
func FuzzBundle(f *testing.F) {
	f.Add(writeBundle(f, fsWith(map[string]string{"lib.rego": lib, "p.rego": portPolicy, "data/test/data.json": `{"bad_ports":[1]}`}), "r", nil))
	f.Add(tarGz(f, map[string]string{"/a/data.json": `{"a":1}`, "/.manifest": `{"revision":"x","roots":["a"]}`}))
	f.Add(tarGz(f, map[string]string{"/.signatures.json": `{"signatures":["e30.e30.e30"]}`}))
	f.Add([]byte{0x1f, 0x8b, 0x08})
	limits := BundleLimits{MaxBytes: 1 << 20, MaxUncompressedBytes: 1 << 20, MaxFileBytes: 256 << 10, MaxFiles: 100}
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := ReadBundle(bytes.NewReader(raw), limits, nil)
		if err != nil {
			return
		}
		total := 0
		require.NoError(t, fs.WalkDir(b.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(b.FS, p)
			total += len(data)
			return err
		}))
		// data.json is OPA's re-encoding, which may differ in size a little.
		require.LessOrEqual(t, total, 2*int(limits.MaxUncompressedBytes))
	})
}
