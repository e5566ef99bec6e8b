package server

import (
	"context"
	"testing"
	"time"

	"github.com/kmsd/kmsd/envelope"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestUsageLimitAcrossLeaderKills (TESTPLAN C11): with a limit of 1,000
// encryptions per key material on a three-node cluster, and the leader
// killed three times while encryptions run, no material makes more than
// 1,000 encryptions; each is rotated once exactly 1,000 uses were allotted;
// only uses allotted to a killed node are lost (at most one refill each);
// and the counters never go backwards.
func TestUsageLimitAcrossLeaderKills(t *testing.T) {
	const limit, ops, kills = 1000, 4000, 3
	clock := &fakeClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	clocks := []func() time.Time{clock.Now, clock.Now, clock.Now}
	ms := newMembersWithClocks(t, clocks, func(c *Config) { c.RotateAfterEncryptions = limit })
	ctx := context.Background()
	resp, err := leaderOf(t, ms).srv.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetKeyMetadata().GetKeyId()
	made := map[string]int{}
	allotted := map[string]uint64{}
	killed := 0
	var down *member
	for done, failures := 0, 0; done < ops; {
		l := leaderOf(t, alive(ms))
		r, err := l.srv.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x")})
		if err != nil {
			// A call caught by a leader change fails; it made nothing.
			if failures++; failures > 200 {
				t.Fatalf("encryptions keep failing: %v", err)
			}
			continue
		}
		h, err := envelope.ParseHeader(r.GetCiphertextBlob())
		if err != nil {
			t.Fatal(err)
		}
		made[h.MaterialID.String()]++
		done++
		// Kills fall in the middle of a material's life, when the
		// leader holds uses it has not made yet.
		if killed < kills && done == []int{700, 1850, 3020}[killed] {
			if down != nil {
				down.boot()
			}
			down = l
			l.stop()
			killed++
			checkMonotonic(t, leaderOf(t, alive(ms)), id, allotted)
		}
	}
	if down != nil {
		down.boot()
	}
	l := leaderOf(t, alive(ms))
	checkMonotonic(t, l, id, allotted)
	k, err := l.store.Key(id)
	if err != nil {
		t.Fatal(err)
	}
	lost := uint64(0)
	for i, v := range k.Versions {
		n := made[v.MaterialID]
		if n > limit {
			t.Errorf("material %d made %d encryptions, limit %d", i, n, limit)
		}
		if i < len(k.Versions)-1 {
			if v.Allotted != limit {
				t.Errorf("material %d was rotated with %d uses allotted, want exactly %d", i, v.Allotted, limit)
			}
			lost += v.Allotted - uint64(n)
		}
	}
	if lost > kills*maxReserve {
		t.Errorf("%d uses lost with %d kills; at most %d", lost, kills, kills*maxReserve)
	}
	if len(k.Versions) < ops/limit {
		t.Errorf("%d versions for %d encryptions", len(k.Versions), ops)
	}
	t.Logf("%d encryptions, %d leader kills: %d versions, per material %v, %d allotted uses lost", ops, kills, len(k.Versions), made, lost)
}

func alive(ms []*member) []*member {
	var out []*member
	for _, m := range ms {
		if !m.down {
			out = append(out, m)
		}
	}
	return out
}

// checkMonotonic fails if any material's allotted count went down since
// the last check.
func checkMonotonic(t *testing.T, m *member, id string, seen map[string]uint64) {
	t.Helper()
	k, err := m.store.Key(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range k.Versions {
		if v.Allotted < seen[v.MaterialID] {
			t.Fatalf("material %s: allotted went from %d to %d", v.MaterialID, seen[v.MaterialID], v.Allotted)
		}
		seen[v.MaterialID] = v.Allotted
	}
}
