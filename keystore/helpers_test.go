package keystore

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testLogger sends the store's logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// openStore opens a store in dir (a new temporary one when dir is "") and
// closes it at the end of the test.
func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := Open(dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testKey returns an enabled key with one version.
func testKey(id string) *Key {
	return &Key{
		ID:           id,
		Description:  "test key " + id,
		Usage:        "ENCRYPT_DECRYPT",
		Spec:         "SYMMETRIC_DEFAULT",
		Origin:       OriginAWSKMS,
		State:        Enabled,
		CreationDate: t0,
		Versions: []Version{{
			MaterialID:   "00" + id,
			Wrapped:      []byte("wrapped material of " + id),
			CreationDate: t0,
		}},
	}
}

// mustApply applies m at the next index and fails the test on any error.
func mustApply(t testing.TB, s *Store, m *Mutation) {
	t.Helper()
	if err := s.Apply(s.AppliedIndex()+1, m); err != nil {
		t.Fatalf("apply %s: %v", m.Op, err)
	}
}

func createKey(t testing.TB, s *Store, k *Key) {
	t.Helper()
	mustApply(t, s, &Mutation{Op: OpCreateKey, Time: t0, Key: k})
}

// stateJSON returns every key and alias, encoded, to compare states
// without the applied index.
func stateJSON(t testing.TB, s *Store) string {
	t.Helper()
	keys, _, err := s.Keys(0, "")
	if err != nil {
		t.Fatal(err)
	}
	aliases, _, err := s.Aliases("", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(struct {
		Keys    []*Key
		Aliases []*Alias
	}{keys, aliases})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
