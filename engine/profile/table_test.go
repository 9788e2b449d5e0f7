package profile

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/hubble-sentinel/hubble-sentinel/engine/facts"
)

// TestSetAndTableAgreeWithMaps adds keys one by one, across the switch
// from a slice to an indexed one, and checks every lookup and the order
// of iteration against a map and a slice.
func TestSetAndTableAgreeWithMaps(t *testing.T) {
	for _, n := range []int{0, 1, 3, smallMax, smallMax + 1, 40} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			var s set[uint32]
			var tb table[string, int]
			want := map[uint32]bool{}
			var order []uint32
			for i := range n {
				k := uint32(i*7919) % 1000
				if !s.Has(k) {
					s.Add(k)
					want[k], order = true, append(order, k)
				}
				tb.Put(strconv.Itoa(int(k)), i)
				// A key seen again keeps its place and takes the new value.
				tb.Put(strconv.Itoa(int(order[0])), -i)
			}
			require.Equal(t, len(want), s.Len())
			require.Equal(t, len(want), tb.Len())
			require.Equal(t, order, slices.Collect(s.All()), "insertion order")
			for k := range uint32(1000) {
				require.Equal(t, want[k], s.Has(k), "key %d", k)
				_, ok := tb.Get(strconv.Itoa(int(k)))
				require.Equal(t, want[k], ok, "key %d", k)
				require.Equal(t, want[k], findText(&tb, []byte(strconv.Itoa(int(k)))) >= 0)
			}
			for i, k := range slices.Collect(tb.Keys()) {
				require.Equal(t, strconv.Itoa(int(order[i])), k)
			}
			require.Equal(t, n > smallMax, s.index != nil, "indexed past smallMax")
			if n > 0 {
				v, _ := tb.Get(strconv.Itoa(int(order[0])))
				require.Equal(t, -(n - 1), v)
			}
			s.Reset()
			tb.Reset()
			require.Zero(t, s.Len())
			require.Zero(t, tb.Len())
			require.False(t, s.Has(order0(order)))
		})
	}
}

func order0(o []uint32) uint32 {
	if len(o) == 0 {
		return 0
	}
	return o[0]
}

// TestContainersWriteWhatMapsWrote: sets and tables encode exactly as the
// maps they replace, in a struct as a snapshot holds them (omitted when
// empty), with ports whose text order is not their numeric order and keys
// JSON escapes.
func TestContainersWriteWhatMapsWrote(t *testing.T) {
	type mapForm struct {
		Ports   map[uint32]bool            `json:"ports,omitempty"`
		Names   map[string]bool            `json:"names,omitempty"`
		IPs     map[string]map[uint32]bool `json:"ips,omitempty"`
		Ratios  map[string]*Ratio          `json:"ratios,omitempty"`
		Trailer int                        `json:"trailer"`
	}
	type compactForm struct {
		Ports   set[uint32]                 `json:"ports,omitzero"`
		Names   set[string]                 `json:"names,omitzero"`
		IPs     table[string, *set[uint32]] `json:"ips,omitzero"`
		Ratios  table[string, *Ratio]       `json:"ratios,omitzero"`
		Trailer int                         `json:"trailer"`
	}
	for _, tc := range []struct {
		name  string
		ports []uint32
		names []string
	}{
		{"empty", nil, nil},
		{"one", []uint32{8080}, []string{"a"}},
		{"text order", []uint32{80, 443, 10000, 9, 0, 4294967295}, []string{"b", "a", "B", ""}},
		{"escaped", []uint32{1}, []string{"<script>&", "é", "\u2028", "\x00", "a\"b\\", "\xff"}},
		{"past smallMax", []uint32{5, 4, 3, 2, 1, 10, 20, 30, 40, 50, 60, 100}, []string{"k", "j", "i", "h", "g", "f", "e", "d", "c", "b", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m mapForm
			var c compactForm
			for i, p := range tc.ports {
				m.Ports = addTrue(m.Ports, p)
				c.Ports.Add(p)
				ip := "10.0.0." + strconv.Itoa(i%3)
				if m.IPs == nil {
					m.IPs = map[string]map[uint32]bool{}
				}
				if m.IPs[ip] == nil {
					m.IPs[ip] = map[uint32]bool{}
					c.IPs.Put(ip, &set[uint32]{})
				}
				if !m.IPs[ip][p] {
					m.IPs[ip][p] = true
					ports, _ := c.IPs.Get(ip)
					ports.Add(p)
				}
			}
			for i, n := range tc.names {
				m.Names = addTrue(m.Names, n)
				c.Names.Add(n)
				if m.Ratios == nil {
					m.Ratios = map[string]*Ratio{}
				}
				r := &Ratio{Minute: int64(i), Baseline: float64(i) / 3}
				if i == 1 {
					r = nil // a null value
				}
				m.Ratios[n] = r
				c.Ratios.Put(n, r)
			}
			want, err := json.Marshal(m)
			require.NoError(t, err)
			got, err := json.Marshal(c)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got))

			// And they read back what they wrote as the maps did (an
			// invalid UTF-8 name comes back as U+FFFD in both).
			var mapBack mapForm
			require.NoError(t, json.Unmarshal(want, &mapBack))
			wantAgain, err := json.Marshal(mapBack)
			require.NoError(t, err)
			var back compactForm
			require.NoError(t, json.Unmarshal(got, &back))
			again, err := json.Marshal(back)
			require.NoError(t, err)
			require.Equal(t, string(wantAgain), string(again))
		})
	}
}

func addTrue[K comparable](m map[K]bool, k K) map[K]bool {
	if m == nil {
		m = map[K]bool{}
	}
	m[k] = true
	return m
}

// TestContainersRejectCorruptInput: what a map could not hold, or a set
// never held, is an error naming it, never a panic.
func TestContainersRejectCorruptInput(t *testing.T) {
	type form struct {
		Ports set[uint32]                 `json:"ports_out"`
		IPs   table[string, *set[uint32]] `json:"ips"`
		Edges table[string, *edge]        `json:"edges"`
	}
	for _, tc := range []struct{ in, want string }{
		{`{"ports_out":{"http":true}}`, "cannot unmarshal number http into Go struct field form.ports_out of type uint32"},
		{`{"ports_out":{"4294967296":true}}`, "number 4294967296"},
		{`{"ports_out":{"-1":true}}`, "number -1"},
		{`{"ports_out":{"80":false}}`, `a set member is false: snapshots hold only true: "80"`},
		{`{"ports_out":{"80":1}}`, "cannot unmarshal number into Go struct field form.ports_out of type bool"},
		{`{"ports_out":[80]}`, "cannot unmarshal array into Go struct field form.ports_out of type map[string]bool"},
		{`{"ips":{"10.0.0.1":{"x":true}}}`, "number x"},
		{`{"ips":"10.0.0.1"}`, "cannot unmarshal string"},
		{`{"edges":{"a|tcp/80":{"first":"yesterday"}}}`, `parsing time "yesterday"`},
		{`{"edges":{"a|tcp/80":{"shapes":{"GET/0":{"values":{"x":false}}}}}}`, "a set member is false"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			var f form
			err := json.Unmarshal([]byte(tc.in), &f)
			require.ErrorContains(t, err, tc.want)
		})
	}
	var f form
	require.NoError(t, json.Unmarshal([]byte(`{"ports_out":{"80":true},"ips":{"a":null}}`), &f))
	require.NoError(t, json.Unmarshal([]byte(`{"ports_out":null,"ips":{"b":{}}}`), &f))
	require.Zero(t, f.Ports.Len(), "null empties, as it set a map to nil")
	require.Equal(t, 2, f.IPs.Len(), "an object adds, as it added to a map")
	a, _ := f.IPs.Get("a")
	require.Nil(t, a)
}

// mapState is a profile as it was before compact containers: plain maps.
// The reference the compact one must read and write exactly as.
type mapState struct {
	core                                // unchanged
	Edges    map[string]*mapEdge        `json:"edges,omitempty"`
	PortsOut map[uint32]bool            `json:"ports_out,omitempty"`
	Domains  map[string]bool            `json:"domains,omitempty"`
	Fanout   mapFanout                  `json:"fanout"`
	Drops    Rate                       `json:"drops"`
	NXDomain Ratio                      `json:"nxdomain"`
	Clients  map[string]bool            `json:"clients,omitempty"`
	PortsIn  map[uint32]bool            `json:"ports_in,omitempty"`
	Auth     map[string]*mapAuthFailure `json:"auth,omitempty"`
}

type mapEdge struct {
	FirstSeen time.Time                `json:"first"`
	Learned   bool                     `json:"learned,omitempty"`
	Endpoints map[string]*endpoint     `json:"endpoints,omitempty"`
	Shapes    map[string]*mapPathShape `json:"shapes,omitempty"`
}

type mapPathShape struct {
	Variable bool            `json:"var,omitempty"`
	Values   map[string]bool `json:"values,omitempty"`
}

type mapAuthFailure struct {
	Rate    Rate            `json:"rate"`
	Sources map[string]bool `json:"sources,omitempty"`
	Minute  int64           `json:"minute"`
}

type mapFanout struct {
	Minute   int64                      `json:"m"`
	IPs      map[string]map[uint32]bool `json:"ips,omitempty"`
	MaxPorts int                        `json:"max_ports"`
	IPRate   Rate                       `json:"ip_rate"`
	PortRate Rate                       `json:"port_rate"`
	Refused  Ratio                      `json:"refused"`
	Dropped  Ratio                      `json:"dropped"`
}

// TestStateReadsAndWritesAsMaps: every profile of the golden snapshot
// reads and writes back as the plain-map profile did.
func TestStateReadsAndWritesAsMaps(t *testing.T) {
	lines, err := os.ReadFile(goldenLines)
	require.NoError(t, err)
	n := 0
	for line := range bytes.Lines(lines) {
		var l struct {
			Profile json.RawMessage `json:"profile"`
		}
		require.NoError(t, json.Unmarshal(line, &l))
		if l.Profile == nil {
			continue
		}
		checkStateAsMaps(t, l.Profile)
		n++
	}
	require.Equal(t, 16, n)
}

// checkStateAsMaps decodes b as a compact state and as a plain-map one:
// both fail, or both write the same JSON. The compact one rejects a
// false set member (a map[K]bool never held one), and reads a null path
// shape as an empty one (the plain map's nil *pathShape crashed the next
// request on its edge).
func checkStateAsMaps(t *testing.T, b []byte) {
	var ref mapState
	var st state
	compareDecodes(t, b, &ref, &st, &ref, &st, func() {
		for _, e := range ref.Edges {
			if e == nil {
				continue
			}
			for k, s := range e.Shapes {
				if s == nil {
					e.Shapes[k] = &mapPathShape{}
				}
			}
		}
	})
}

// FuzzStateJSON: whatever a snapshot's profile holds, the compact profile
// reads it as the plain-map one did, or refuses it with an error; it
// never panics. Seeds are the golden snapshot's profiles.
func FuzzStateJSON(f *testing.F) {
	lines, err := os.ReadFile(goldenLines)
	if err != nil {
		f.Fatal(err)
	}
	for line := range bytes.Lines(lines) {
		var l struct {
			Profile json.RawMessage `json:"profile"`
		}
		if json.Unmarshal(line, &l) == nil && l.Profile != nil {
			f.Add([]byte(l.Profile))
		}
	}
	for _, s := range []string{`{}`, `null`, `{"edges":null}`, `{"ports_out":{"80":true,"080":true}}`,
		`{"ports_out":{"80":false}}`, `{"edges":{"a|tcp/1":null},"edges":{"b|tcp/2":{}}}`,
		`{"nxdomain":{"b":-0},"nxdomain":{"m":1}}`, `{"fanout":{"ips":{"1.2.3.4":null,"5.6.7.8":{}}}}`,
		`{"edges":{"a|tcp/1":{"shapes":{"GET/0":null}}}}`, `{"clients":{"x":true},"clients":{"y":true}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkStateAsMaps(t, b)
	})
}

// FuzzContainerJSON: a set and a table of sets read any input as the
// maps they replace did, or refuse it; never a panic.
func FuzzContainerJSON(f *testing.F) {
	for _, s := range []string{`{}`, `null`, `{"80":true,"443":true}`, `{"080":true,"80":true}`, `{"80":false}`,
		`{"a":{"1":true},"b":null,"c":{}}`, `{"4294967296":true}`, `[]`, `{"a":{"x":true}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var refPorts struct {
			M map[uint32]bool `json:"m,omitempty"`
		}
		var ports struct {
			M set[uint32] `json:"m,omitzero"`
		}
		compareDecodes(t, b, &refPorts.M, &ports.M, &refPorts, &ports, nil)
		var refNames struct {
			M map[string]bool `json:"m,omitempty"`
		}
		var names struct {
			M set[string] `json:"m,omitzero"`
		}
		compareDecodes(t, b, &refNames.M, &names.M, &refNames, &names, nil)
		var refIPs struct {
			M map[string]map[uint32]bool `json:"m,omitempty"`
		}
		var ips struct {
			M table[string, *set[uint32]] `json:"m,omitzero"`
		}
		compareDecodes(t, b, &refIPs.M, &ips.M, &refIPs, &ips, nil)
	})
}

// compareDecodes decodes b into ref (the maps) and into got (the compact
// form), then checks both failed, or only got did for a false set member,
// or both write the same JSON (refOut and gotOut hold them; normalize, if
// set, first mends in ref what got reads differently on purpose).
func compareDecodes(t *testing.T, b []byte, ref, got, refOut, gotOut any, normalize func()) {
	t.Helper()
	refErr := json.Unmarshal(b, ref)
	err := json.Unmarshal(b, got)
	if refErr != nil {
		require.Error(t, err, "the map refused %s: %v", b, refErr)
		return
	}
	if err != nil {
		require.ErrorIs(t, err, errFalseMember, "the map read %s", b)
		return
	}
	if normalize != nil {
		normalize()
	}
	want, err := json.Marshal(refOut)
	require.NoError(t, err)
	have, err := json.Marshal(gotOut)
	require.NoError(t, err)
	require.Equal(t, string(want), string(have), "input %s", b)
}

// TestProfilesShareEndpointNames: two workloads calling one endpoint hold
// one copy of its name, its path positions and segments, learned or
// restored from a snapshot.
func TestProfilesShareEndpointNames(t *testing.T) {
	s := newStore(t, Config{})
	a, b := pod("shop", "a", "10.0.0.1"), pod("shop", "b", "10.0.0.2")
	for _, client := range []facts.Endpoint{a, b} {
		s.Observe(t0, request(client, catalog, "GET", "/product/1"))
	}
	var snap bytes.Buffer
	_, err := s.WriteSnapshot(&snap)
	require.NoError(t, err)
	restored := newStore(t, Config{})
	_, err = restored.ReadSnapshot(&snap)
	require.NoError(t, err)

	for _, s := range []*Store{s, restored} {
		var names [][]string
		for _, client := range []facts.Endpoint{a, b} {
			p, ok := s.cache.Peek(client.Key())
			require.True(t, ok)
			for _, e := range p.state.out.Edges.All() {
				ep, _ := e.Endpoints.at(0)
				shape, ps := e.Shapes.at(0)
				names = append(names, []string{ep, shape, ps.Values.keys[0]})
			}
		}
		require.Equal(t, []string{"GET /product/{num}", "GET/0", "product"}, names[0])
		require.Equal(t, names[0], names[1])
		for i := range names[0] {
			require.Same(t, unsafe.StringData(names[0][i]), unsafe.StringData(names[1][i]), "one copy of %q", names[0][i])
		}
	}
}
