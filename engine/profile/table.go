package profile

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"reflect"
	"slices"
	"strconv"
)

// Compact containers for profiles. Most of a profile's sets and maps hold
// one to three keys, and a Go map costs hundreds of bytes even with one:
// set and table keep their keys in a slice, searched linearly, and add a
// map index only past smallMax keys. Both snapshot exactly as the plain
// maps they replace did (a JSON object, keys sorted as encoding/json sorts
// a map's), so snapshots written before and after are the same.

// smallMax is the most keys a set or table searches linearly.
const smallMax = 8

// key is what profiles index by: names and ports.
type key interface{ string | uint32 }

// set is a set of K, in the order keys were added.
type set[K key] struct {
	keys  []K
	index map[K]struct{} // all keys, once there are more than smallMax
}

// Len is the number of keys.
func (s *set[K]) Len() int { return len(s.keys) }

// Has reports whether k is in the set.
func (s *set[K]) Has(k K) bool {
	if s.index != nil {
		_, ok := s.index[k]
		return ok
	}
	return slices.Contains(s.keys, k)
}

// Add adds k, which the caller knows is not in the set.
func (s *set[K]) Add(k K) {
	s.keys = append(s.keys, k)
	switch {
	case s.index != nil:
		s.index[k] = struct{}{}
	case len(s.keys) > smallMax:
		s.index = make(map[K]struct{}, len(s.keys))
		for _, k := range s.keys {
			s.index[k] = struct{}{}
		}
	}
}

// Reset empties the set and frees its memory.
func (s *set[K]) Reset() { *s = set[K]{} }

// All yields the keys in the order they were added.
func (s *set[K]) All() iter.Seq[K] { return slices.Values(s.keys) }

// IsZero reports an empty set, which a snapshot omits (omitzero) as it
// omitted an empty map.
func (s set[K]) IsZero() bool { return len(s.keys) == 0 }

// MarshalJSON writes the set as a map[K]bool of true values.
func (s set[K]) MarshalJSON() ([]byte, error) {
	return marshalObject(s.keys, func(int) ([]byte, error) { return []byte("true"), nil })
}

// errFalseMember: a map[K]bool held only true values; a set reads no
// false one.
var errFalseMember = errors.New("a set member is false: snapshots hold only true")

// UnmarshalJSON reads what MarshalJSON writes as encoding/json read the
// map[K]bool it replaces: null empties the set, an object adds to it.
func (s *set[K]) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		s.Reset()
		return nil
	}
	return unmarshalObject(b, func(k K, member bool) error {
		if !member {
			return fmt.Errorf("%w: %q", errFalseMember, keyText(k))
		}
		if !s.Has(k) { // "080" and "80" are one port
			s.Add(k)
		}
		return nil
	})
}

// table is a map from K to V, in the order keys were added.
type table[K key, V any] struct {
	entries []entry[K, V]
	index   map[K]int32 // position in entries, once there are more than smallMax
}

type entry[K key, V any] struct {
	k K
	v V
}

// Len is the number of keys.
func (t *table[K, V]) Len() int { return len(t.entries) }

// find is k's position in entries, -1 when absent.
func (t *table[K, V]) find(k K) int {
	if t.index != nil {
		if i, ok := t.index[k]; ok {
			return int(i)
		}
		return -1
	}
	for i := range t.entries {
		if t.entries[i].k == k {
			return i
		}
	}
	return -1
}

// findText is find for a key spelled in b, without making it a string.
func findText[V any](t *table[string, V], b []byte) int {
	if t.index != nil {
		if i, ok := t.index[string(b)]; ok {
			return int(i)
		}
		return -1
	}
	for i := range t.entries {
		if t.entries[i].k == string(b) {
			return i
		}
	}
	return -1
}

// Get returns k's value.
func (t *table[K, V]) Get(k K) (V, bool) {
	if i := t.find(k); i >= 0 {
		return t.entries[i].v, true
	}
	var zero V
	return zero, false
}

// Put sets k's value.
func (t *table[K, V]) Put(k K, v V) {
	if i := t.find(k); i >= 0 {
		t.entries[i].v = v
		return
	}
	t.add(k, v)
}

// add appends k, which the caller knows is absent, and returns its value's
// place. The place is valid until the next add.
func (t *table[K, V]) add(k K, v V) *V {
	t.entries = append(t.entries, entry[K, V]{k, v})
	switch {
	case t.index != nil:
		t.index[k] = int32(len(t.entries) - 1)
	case len(t.entries) > smallMax:
		t.index = make(map[K]int32, len(t.entries))
		for i, e := range t.entries {
			t.index[e.k] = int32(i)
		}
	}
	return &t.entries[len(t.entries)-1].v
}

// at is the key and value at position i (from find).
func (t *table[K, V]) at(i int) (K, V) { return t.entries[i].k, t.entries[i].v }

// ref is the place of the value at position i (from find); valid until
// the next add.
func (t *table[K, V]) ref(i int) *V { return &t.entries[i].v }

// Reset empties the table and frees its memory.
func (t *table[K, V]) Reset() { *t = table[K, V]{} }

// All yields the keys and values in the order keys were added.
func (t *table[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for _, e := range t.entries {
			if !yield(e.k, e.v) {
				return
			}
		}
	}
}

// Keys yields the keys in the order they were added.
func (t *table[K, V]) Keys() iter.Seq[K] {
	return func(yield func(K) bool) {
		for _, e := range t.entries {
			if !yield(e.k) {
				return
			}
		}
	}
}

// IsZero reports an empty table, which a snapshot omits (omitzero) as it
// omitted an empty map.
func (t table[K, V]) IsZero() bool { return len(t.entries) == 0 }

// MarshalJSON writes the table as encoding/json writes a map[K]V.
func (t table[K, V]) MarshalJSON() ([]byte, error) {
	keys := make([]K, len(t.entries))
	for i, e := range t.entries {
		keys[i] = e.k
	}
	return marshalObject(keys, func(i int) ([]byte, error) { return json.Marshal(t.entries[i].v) })
}

// UnmarshalJSON reads what MarshalJSON writes as encoding/json reads a
// map[K]V: null empties the table, an object adds to it and a key twice
// keeps the last value.
func (t *table[K, V]) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Reset()
		return nil
	}
	return unmarshalObject(b, func(k K, v V) error {
		t.Put(k, v)
		return nil
	})
}

// unmarshalObject reads b as encoding/json reads a map[K]V and calls put
// for each member, in the order of their names. On an error the caller's
// container may hold part of b.
func unmarshalObject[K key, V any](b []byte, put func(K, V) error) error {
	var m map[string]V
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for _, ks := range slices.Sorted(maps.Keys(m)) {
		k, err := parseKey[K](ks)
		if err != nil {
			return err
		}
		if err := put(k, m[ks]); err != nil {
			return err
		}
	}
	return nil
}

// marshalObject writes keys and value(i) for keys[i] through the map
// they replace, so that the order and escaping of member names are
// encoding/json's own.
func marshalObject[K key](keys []K, value func(i int) ([]byte, error)) ([]byte, error) {
	m := make(map[K]json.RawMessage, len(keys))
	for i, k := range keys {
		v, err := value(i)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	return json.Marshal(m)
}

// keyText is k as a JSON object's member name: encoding/json writes
// integer map keys in decimal.
func keyText[K key](k K) string {
	switch v := any(k).(type) {
	case uint32:
		return strconv.FormatUint(uint64(v), 10)
	default:
		return any(k).(string)
	}
}

// parseKey reads a member name back into a key as encoding/json reads a
// map's: a decimal number in range for an integer key.
func parseKey[K key](s string) (K, error) {
	var k K
	switch p := any(&k).(type) {
	case *uint32:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return k, &json.UnmarshalTypeError{Value: "number " + s, Type: reflect.TypeFor[uint32]()}
		}
		*p = uint32(n)
	case *string:
		*p = s
	}
	return k, nil
}
