package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBundledFixturesAreCurrent: the input documents the bundled policies'
// Rego tests judge are what the engine measures today. When Measure
// changes, `make fixtures` regenerates them and the Rego tests say which
// policy the change affects.
func TestBundledFixturesAreCurrent(t *testing.T) {
	o, _, stderr := quietOptions()
	err := PolicyFixtures(context.Background(), o, filepath.Join("..", "..", "..", "..", "policies"), true)
	require.NoError(t, err, stderr.String())
}

func TestPolicyFixtures(t *testing.T) {
	const flow = `{"flow":{"uuid":"%s","time":"2026-03-14T09:00:00Z","IP":{"source":"10.0.1.2","destination":"10.0.2.3"},` +
		`"l4":{"TCP":{"source_port":40000,"destination_port":8080,"flags":{"SYN":true}}}}}` + "\n"
	write := func(t *testing.T, lines string) string {
		dir := t.TempDir()
		td := filepath.Join(dir, "x", "y", "testdata")
		require.NoError(t, os.MkdirAll(td, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(td, FixtureFlows), []byte(lines), 0o644))
		return dir
	}
	ctx := context.Background()

	t.Run("writes, then checks", func(t *testing.T) {
		dir := write(t, fmt.Sprintf(flow, "syn"))
		o, _, _ := quietOptions()
		require.ErrorIs(t, PolicyFixtures(ctx, o, dir, true), ErrStaleFixtures, "no inputs.json yet")
		require.NoError(t, PolicyFixtures(ctx, o, dir, false))
		out, err := os.ReadFile(filepath.Join(dir, "x", "y", "testdata", FixtureInputs))
		require.NoError(t, err)
		require.Contains(t, string(out), `"syn": {`)
		require.Contains(t, string(out), `"rule": "tcp_flags"`)
		require.NoError(t, PolicyFixtures(ctx, o, dir, true))

		require.NoError(t, os.WriteFile(filepath.Join(dir, "x", "y", "testdata", FixtureInputs), append(out, ' '), 0o644))
		err = PolicyFixtures(ctx, o, dir, true)
		require.ErrorIs(t, err, ErrStaleFixtures)
		require.ErrorContains(t, err, filepath.Join("x", "y", "testdata", FixtureInputs))
	})
	for _, tc := range []struct{ name, lines, want string }{
		{"no uuid", fmt.Sprintf(flow, ""), "a flow has no uuid"},
		{"duplicate uuid", fmt.Sprintf(flow, "a") + fmt.Sprintf(flow, "a"), `uuid "a" names two flows`},
		{"malformed line", fmt.Sprintf(flow, "a") + "{not json\n", "1 malformed lines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _, _ := quietOptions()
			require.ErrorContains(t, PolicyFixtures(ctx, o, write(t, tc.lines), false), tc.want)
		})
	}
	t.Run("nothing to do", func(t *testing.T) {
		o, _, _ := quietOptions()
		require.ErrorContains(t, PolicyFixtures(ctx, o, t.TempDir(), false), "no testdata/flows.jsonl")
	})
}
