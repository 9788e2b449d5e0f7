package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/loader"
)

// BundleLimits bound what reading a bundle may cost: a bundle is input
// from a server, and a small .tar.gz can inflate without bound.
type BundleLimits struct {
	// MaxBytes bounds the compressed bundle (the download).
	MaxBytes int64
	// MaxUncompressedBytes bounds the sum of its files' sizes.
	MaxUncompressedBytes int64
	// MaxFileBytes bounds each file.
	MaxFileBytes int64
	// MaxFiles bounds the number of entries in the archive.
	MaxFiles int
}

// DefaultBundleLimits are generous for policies and their data: the
// bundled set is well under a megabyte.
var DefaultBundleLimits = BundleLimits{
	MaxBytes:             64 << 20,
	MaxUncompressedBytes: 256 << 20,
	MaxFileBytes:         64 << 20,
	MaxFiles:             10000,
}

func (l BundleLimits) withDefaults() BundleLimits {
	d := DefaultBundleLimits
	if l.MaxBytes > 0 {
		d.MaxBytes = l.MaxBytes
	}
	if l.MaxUncompressedBytes > 0 {
		d.MaxUncompressedBytes = l.MaxUncompressedBytes
	}
	if l.MaxFileBytes > 0 {
		d.MaxFileBytes = l.MaxFileBytes
	}
	if l.MaxFiles > 0 {
		d.MaxFiles = l.MaxFiles
	}
	return d
}

// BundleKey is the key a bundle's signature is verified with, as in OPA's
// keys configuration: Key is a PEM public key (or certificate) for RS*,
// PS*, ES* and EdDSA signatures, or an HMAC secret for HS* ones. The
// algorithm is the signature's, which must suit the key's type (an HMAC
// secret never verifies an RS256 signature, nor a public key an HS256 one).
type BundleKey struct {
	Key   []byte
	KeyID string // default "default"
	Scope string // the scope the signature must carry (optional)
}

// Bundle is an OPA bundle (`opa build` format) read into a file system
// Load, Test, Samples and Groupings take: its .rego modules (tests too)
// at their paths and its data as one data.json at the root, exactly the
// data OPA itself would load from the bundle.
type Bundle struct {
	FS       fs.FS
	Revision string
	Roots    []string
	Modules  int
	Signed   bool
}

// ReadBundle reads a bundle (.tar.gz, as `opa build` writes it) from r
// within limits, verifying its signature with key when key is set; a
// bundle without a signature is then refused. Errors say what was wrong
// or too large, and where.
func ReadBundle(r io.Reader, limits BundleLimits, key *BundleKey) (*Bundle, error) {
	limits = limits.withDefaults()
	raw, err := io.ReadAll(io.LimitReader(r, limits.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading bundle: %w", err)
	}
	if int64(len(raw)) > limits.MaxBytes {
		return nil, fmt.Errorf("bundle larger than %d bytes", limits.MaxBytes)
	}
	sigs, err := scanBundle(raw, limits)
	if err != nil {
		return nil, err
	}
	rd := bundle.NewCustomReader(bundle.NewTarballLoaderWithBaseURL(bytes.NewReader(raw), "").WithSizeLimitBytes(limits.MaxFileBytes)).
		WithSizeLimitBytes(limits.MaxFileBytes + 1).
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotations(true)
	if key != nil {
		vc, err := verification(key, sigs)
		if err != nil {
			return nil, err
		}
		rd = rd.WithBundleVerificationConfig(vc)
	} else if sigs != nil {
		return nil, errors.New("bundle is signed but no verification key is configured (--policies.bundle.verification-key-file)")
	}
	b, err := rd.Read()
	if err != nil {
		return nil, fmt.Errorf("reading bundle: %w", err)
	}
	if b.Type() != bundle.SnapshotBundleType {
		return nil, fmt.Errorf("bundle of type %s: only snapshot bundles are supported", b.Type())
	}
	if len(b.WasmModules) > 0 || len(b.PlanModules) > 0 {
		return nil, errors.New("bundle holds Wasm modules or plans: only Rego modules and data are supported")
	}
	files := memFS{}
	for _, m := range b.Modules {
		name := strings.TrimPrefix(path.Clean("/"+m.RelativePath), "/")
		if !fs.ValidPath(name) || name == "." {
			return nil, fmt.Errorf("bundle module %q: not a valid path", m.RelativePath)
		}
		files[name] = m.Raw
	}
	if len(b.Data) > 0 {
		data, err := json.Marshal(b.Data)
		if err != nil {
			return nil, fmt.Errorf("bundle data: %w", err)
		}
		files["data.json"] = data
	}
	roots := []string(nil)
	if b.Manifest.Roots != nil {
		roots = slices.Clone(*b.Manifest.Roots)
	}
	return &Bundle{FS: files, Revision: b.Manifest.Revision, Roots: roots, Modules: len(b.Modules), Signed: sigs != nil}, nil
}

// scanBundle walks the archive once within limits, before OPA's reader
// holds its files in memory, and returns its .signatures.json (nil when
// unsigned).
func scanBundle(raw []byte, limits BundleLimits) ([]byte, error) {
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("bundle is not a .tar.gz: %w", err)
	}
	tr := tar.NewReader(gz)
	var total int64
	var sigs []byte
	for n := 1; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 1 {
				return nil, errors.New("bundle archive is empty")
			}
			return sigs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("bundle archive, entry %d: %w", n, err)
		}
		if n > limits.MaxFiles {
			return nil, fmt.Errorf("bundle has more than %d files", limits.MaxFiles)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > limits.MaxFileBytes {
			return nil, fmt.Errorf("bundle file %s: %d bytes, larger than %d", h.Name, h.Size, limits.MaxFileBytes)
		}
		if total += h.Size; total > limits.MaxUncompressedBytes {
			return nil, fmt.Errorf("bundle files larger than %d bytes uncompressed (at %s)", limits.MaxUncompressedBytes, h.Name)
		}
		if bundle.IsSignaturesFile(strings.TrimPrefix(h.Name, "/")) {
			if sigs, err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("bundle file %s: %w", h.Name, err)
			}
			continue
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return nil, fmt.Errorf("bundle file %s: %w", h.Name, err)
		}
	}
}

// verification is OPA's verification configuration for key, with the
// algorithm of the bundle's signature when it suits the key's type.
func verification(key *BundleKey, sigs []byte) (*bundle.VerificationConfig, error) {
	id := key.KeyID
	if id == "" {
		id = "default"
	}
	if sigs == nil {
		return nil, errors.New("bundle is not signed (no .signatures.json) but a verification key is configured")
	}
	alg, err := signatureAlgorithm(sigs)
	if err != nil {
		return nil, err
	}
	if err := keySuits(key.Key, alg); err != nil {
		return nil, fmt.Errorf("bundle signature: %w", err)
	}
	keys := map[string]*bundle.KeyConfig{id: {Key: string(key.Key), Algorithm: alg}}
	return bundle.NewVerificationConfig(keys, id, key.Scope, nil), nil
}

// signatureAlgorithm is the alg of the first JWT in .signatures.json.
func signatureAlgorithm(sigs []byte) (string, error) {
	var sc bundle.SignaturesConfig
	if err := json.Unmarshal(sigs, &sc); err != nil {
		return "", fmt.Errorf("bundle .signatures.json: %w", err)
	}
	if len(sc.Signatures) != 1 {
		return "", fmt.Errorf("bundle .signatures.json: %d signatures, want exactly one", len(sc.Signatures))
	}
	head, _, ok := strings.Cut(sc.Signatures[0], ".")
	if !ok {
		return "", errors.New("bundle .signatures.json: the signature is not a JWT")
	}
	hb, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", fmt.Errorf("bundle .signatures.json: JWT header: %w", err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return "", fmt.Errorf("bundle .signatures.json: JWT header: %w", err)
	}
	return h.Alg, nil
}

// keySuits reports whether key may verify a signature made with alg: a
// PEM public key of the matching type for asymmetric algorithms, an HMAC
// secret (not PEM) for HS*.
func keySuits(key []byte, alg string) error {
	block, _ := pem.Decode(key)
	if strings.HasPrefix(alg, "HS") {
		if block != nil {
			return fmt.Errorf("signed with %s (HMAC) but the verification key is a PEM key", alg)
		}
		return nil
	}
	if block == nil {
		return fmt.Errorf("signed with %s but the verification key is not a PEM public key", alg)
	}
	var pub any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = c.PublicKey
		}
	default:
		return fmt.Errorf("verification key: PEM block %q, want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return fmt.Errorf("verification key: %w", err)
	}
	var ok bool
	switch pub.(type) {
	case *rsa.PublicKey:
		ok = strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		ok = strings.HasPrefix(alg, "ES")
	case ed25519.PublicKey:
		ok = alg == "EdDSA"
	}
	if !ok {
		return fmt.Errorf("signed with %q, which a %T verification key cannot verify", alg, pub)
	}
	return nil
}

// memFS is a read-only file system of files held in memory, by slash path;
// directories are implied by the files under them.
type memFS map[string][]byte

func (m memFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if b, ok := m[name]; ok {
		return &memFile{info: memInfo{name: path.Base(name), size: int64(len(b))}, r: bytes.NewReader(b)}, nil
	}
	prefix := name + "/"
	if name == "." {
		prefix = ""
	}
	seen := map[string]bool{}
	var entries []fs.DirEntry
	for p, b := range m {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		child, _, sub := strings.Cut(rest, "/")
		if seen[child] {
			continue
		}
		seen[child] = true
		info := memInfo{name: child, size: int64(len(b)), dir: sub}
		if sub {
			info.size = 0
		}
		entries = append(entries, fs.FileInfoToDirEntry(info))
	}
	if len(entries) == 0 && name != "." {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return &memDir{info: memInfo{name: path.Base(name), dir: true}, entries: entries}, nil
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

type memFile struct {
	info memInfo
	r    *bytes.Reader
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *memFile) Close() error               { return nil }

type memDir struct {
	info    memInfo
	entries []fs.DirEntry
}

func (d *memDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *memDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: fs.ErrInvalid}
}
func (d *memDir) Close() error { return nil }

// ReadDir returns the next n entries (all remaining when n <= 0).
func (d *memDir) ReadDir(n int) ([]fs.DirEntry, error) {
	if n <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	out := d.entries[:n]
	d.entries = d.entries[n:]
	return out, nil
}

// BundleSigning signs a bundle WriteBundle writes, as `opa sign` does:
// Key is a PEM private key (or an HMAC secret), Algorithm e.g. RS256.
type BundleSigning struct {
	Key       []byte
	Algorithm string
	KeyID     string // default "default"
}

// WriteBundle writes the modules (tests included) and data documents under
// root in fsys as an OPA bundle with this revision, as `opa build root`
// does: modules at their paths, the data in one data.json at the root.
// With sign, the bundle carries a signature as `opa build --signing-key`
// writes it.
func WriteBundle(w io.Writer, fsys fs.FS, root, revision string, sign *BundleSigning) error {
	// Data as `opa test` sees it; modules as they are, unparsed, so that
	// a bundle may carry a module that does not compile (and is refused
	// when read).
	res, err := loader.NewFileLoader().WithFS(fsys).Filtered([]string{root}, func(_ string, info fs.FileInfo, depth int) bool {
		return path.Ext(info.Name()) == ".rego" || skipFiles(true)("", info, depth)
	})
	if err != nil {
		return fmt.Errorf("loading data from %s: %w", root, err)
	}
	b := bundle.Bundle{Data: res.Documents, Manifest: bundle.Manifest{Revision: revision}}
	if b.Data == nil {
		b.Data = map[string]any{}
	}
	err = fs.WalkDir(fsys, root, func(name string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && name != root && strings.HasPrefix(d.Name(), "."):
			return fs.SkipDir
		case d.IsDir() || path.Ext(name) != ".rego":
			return nil
		}
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		p := "/" + strings.TrimPrefix(path.Clean(name), "./")
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: p, Path: p, Raw: raw})
		return nil
	})
	if err != nil {
		return err
	}
	b.Manifest.Init()
	if sign != nil {
		id := sign.KeyID
		if id == "" {
			id = "default"
		}
		if err := b.GenerateSignature(bundle.NewSigningConfig(string(sign.Key), sign.Algorithm, ""), id, false); err != nil {
			return fmt.Errorf("signing bundle: %w", err)
		}
	}
	return bundle.NewWriter(w).DisableFormat(true).Write(b)
}
