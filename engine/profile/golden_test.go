package profile

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Golden snapshots: testdata/golden.snap was written by the code that
// kept profiles in plain Go maps (before the compact containers), and
// testdata/golden.jsonl is its body. The format is a contract: a snapshot
// of the same traffic must stay byte-identical, and one written before a
// change must load and write back unchanged.
const (
	goldenSnap  = "testdata/golden.snap"
	goldenLines = "testdata/golden.jsonl"
)

// goldenTraffic touches every part of a profile a snapshot holds, with
// sets both small and large (past any small-size optimisation), ports
// whose text order is not their numeric order, keys JSON escapes, learning
// and judging, and a minute rolled over.
func goldenTraffic(s *Store) time.Time {
	at := t0
	tick := func() time.Time { at = at.Add(700 * time.Millisecond); return at }
	web := pod("shop", "web&<front>", "10.0.2.1")
	api := pod("shop", "api", "10.0.2.2")
	http := func(client, server facts.Endpoint, port uint32, endpoint string, code uint32, latency time.Duration) *facts.Flow {
		fa := &facts.Flow{Source: client, Destination: server, Protocol: "TCP", SourcePort: 40000, DestinationPort: port,
			Direction: facts.Direction{Initiated: true}, L7Type: "REQUEST", HTTP: &facts.HTTP{Endpoint: endpoint}}
		if code != 0 {
			fa.Source, fa.Destination, fa.SourcePort, fa.DestinationPort = server, client, port, 40000
			fa.Direction.Initiated, fa.L7Type, fa.HTTP.Code, fa.Latency = false, "RESPONSE", code, latency
		}
		return fa
	}
	for round := range 3 {
		for i := range 20 {
			// A path position that becomes variable, one that stays
			// fixed, and an escaped name.
			s.Observe(tick(), http(web, api, 8080, fmt.Sprintf("GET /users/u%d/orders", i), 0, 0))
			s.Observe(tick(), http(web, api, 8080, fmt.Sprintf("GET /users/u%d/orders", i), 200, time.Duration(10+i)*time.Millisecond))
			s.Observe(tick(), http(web, api, 8080, "POST /cart/<items>&more", 0, 0))
			s.Observe(tick(), http(web, api, 8080, "POST /cart/<items>&more", uint32(500+i%2), 30*time.Millisecond))
		}
		// Auth failures from more clients than a small set holds.
		for c := range 11 {
			client := pod("shop", "client-"+strconv.Itoa(c), "10.0.3."+strconv.Itoa(c))
			s.Observe(tick(), http(client, api, 8080, "GET /admin/{id}", 0, 0))
			s.Observe(tick(), http(client, api, 8080, "GET /admin/{id}", uint32(401+2*(c%2)), 5*time.Millisecond))
		}
		// Many ports of one server and many addresses: fan-out.
		for _, port := range []uint32{80, 443, 8080, 10000, 9, 5432, 6379, 11211, 27017, 3306, 1} {
			fa := syn(web, api, port)
			fa.Protocol = "TCP"
			s.Observe(tick(), fa)
		}
		for i := range 12 {
			fa := syn(web, target("10.0.9."+strconv.Itoa(i)), 22)
			fa.Protocol = "TCP"
			if i%3 == 0 {
				fa.Verdict = flowpb.Verdict_DROPPED.String()
			}
			s.Observe(tick(), fa)
			rst := syn(target("10.0.9."+strconv.Itoa(i)), web, 40000)
			rst.SourcePort, rst.DestinationPort, rst.Protocol = 22, 40000, "TCP"
			rst.TCPFlags, rst.Direction = &flowpb.TCPFlags{RST: true}, facts.Direction{Initiated: false}
			s.Observe(tick(), rst)
		}
		// The Internet, by name and by address; DNS lookups and answers.
		world := facts.Endpoint{Kind: facts.KindWorld, IP: "203.0.113.7"}
		named := facts.Endpoint{Kind: facts.KindWorld, IP: "198.51.100.9", FQDN: "api.example.com"}
		s.Observe(tick(), &facts.Flow{Source: web, Destination: world, Protocol: "TCP", SourcePort: 40000, DestinationPort: 443, Direction: facts.Direction{Initiated: true}})
		s.Observe(tick(), &facts.Flow{Source: web, Destination: named, Protocol: "TCP", SourcePort: 40000, DestinationPort: 443, Direction: facts.Direction{Initiated: true}})
		dns := pod("kube-system", "coredns", "10.0.0.10")
		for d := range 10 {
			domain := fmt.Sprintf("site%d.example", d)
			s.Observe(tick(), &facts.Flow{Source: web, Destination: dns, Protocol: "UDP", SourcePort: 40000, DestinationPort: 53,
				Direction: facts.Direction{Initiated: true}, L7Type: "REQUEST", DNS: &facts.DNS{Query: "www." + domain, Registered: domain}})
			s.Observe(tick(), &facts.Flow{Source: dns, Destination: web, Protocol: "UDP", SourcePort: 53, DestinationPort: 40000,
				L7Type: "RESPONSE", DNS: &facts.DNS{Query: "www." + domain, Registered: domain, Rcode: uint32(3 * (d % 2))}})
		}
		if round == 1 {
			// Past the learning period: judged, not learned.
			at = at.Add(10 * time.Minute)
		}
		at = at.Add(time.Minute)
	}
	return at
}

// snapshotBody is the JSON lines of a snapshot of s.
func snapshotBody(t *testing.T, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	_, err := s.WriteSnapshot(&buf)
	require.NoError(t, err)
	return gunzipBody(t, buf.Bytes())
}

func gunzipBody(t *testing.T, snap []byte) []byte {
	t.Helper()
	_, body, ok := bytes.Cut(snap, []byte("\n"))
	require.True(t, ok)
	zr, err := gzip.NewReader(bytes.NewReader(body))
	require.NoError(t, err)
	lines, err := io.ReadAll(zr)
	require.NoError(t, err)
	return lines
}

// TestSnapshotOfSameTrafficIsUnchanged: the golden traffic's snapshot is
// byte for byte the one the plain-map profiles wrote.
func TestSnapshotOfSameTrafficIsUnchanged(t *testing.T) {
	s := newStore(t, Config{LearningPeriod: 10 * time.Minute})
	goldenTraffic(s)
	got := snapshotBody(t, s)
	if *update {
		var snap bytes.Buffer
		_, err := s.WriteSnapshot(&snap)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(goldenSnap, snap.Bytes(), 0o600))
		require.NoError(t, os.WriteFile(goldenLines, got, 0o600))
	}
	want, err := os.ReadFile(goldenLines)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}

// TestOldSnapshotLoadsAndWritesBackUnchanged: a snapshot file written
// before loads, writes back the same body, and the restored store goes on
// exactly as the store that wrote it would have.
func TestOldSnapshotLoadsAndWritesBackUnchanged(t *testing.T) {
	snap, err := os.ReadFile(goldenSnap)
	require.NoError(t, err)
	want, err := os.ReadFile(goldenLines)
	require.NoError(t, err)
	require.Equal(t, string(want), string(gunzipBody(t, snap)), "the golden files belong together")

	path := filepath.Join(t.TempDir(), "baseline.snap")
	require.NoError(t, os.WriteFile(path, snap, 0o600))
	cfg := Config{LearningPeriod: 10 * time.Minute}
	restored := newStore(t, cfg)
	n, err := restored.LoadFile(path)
	require.NoError(t, err)
	require.Equal(t, restored.Len(), n)
	require.Equal(t, string(want), string(snapshotBody(t, restored)))

	// The same later traffic through the store that wrote the snapshot
	// and through the restored one: the same views and the same state.
	orig := newStore(t, cfg)
	at := goldenTraffic(orig)
	later := newStore(t, cfg)
	_, err = later.ReadSnapshot(bytes.NewReader(snap))
	require.NoError(t, err)
	more := []*facts.Flow{
		request(pod("shop", "web&<front>", "10.0.2.1"), pod("shop", "api", "10.0.2.2"), "GET", "/users/u99/orders"),
		request(pod("shop", "web&<front>", "10.0.2.1"), pod("shop", "new", "10.0.2.3"), "GET", "/x"),
		response(pod("shop", "client-1", "10.0.3.1"), pod("shop", "api", "10.0.2.2"), "GET", "/admin/{id}", 403, time.Millisecond),
	}
	for i, fa := range more {
		require.Equal(t, orig.Observe(at, fa), later.Observe(at, fa), "flow %d", i)
	}
	require.Equal(t, string(snapshotBody(t, orig)), string(snapshotBody(t, later)))
}
