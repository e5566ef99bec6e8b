package server

import (
	"context"
	"testing"
	"time"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestScheduledActionsWithSkewedClocks: three members whose clocks differ
// by ten minutes either way run their schedulers every simulated day for
// 1,000 days, with the leader killed on day 400. Rotations and the expiry
// of imported material happen exactly once each, on the leader's clock
// (R13, the rotation and expiry parts).
func TestScheduledActionsWithSkewedClocks(t *testing.T) {
	base := &fakeClock{t: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	skewed := func(d time.Duration) func() time.Time { return func() time.Time { return base.Now().Add(d) } }
	ms := newMembersWithClocks(t, []func() time.Time{skewed(-10 * time.Minute), skewed(0), skewed(10 * time.Minute)})
	ctx := context.Background()
	lead := leaderOf(t, ms)
	key, err := lead.srv.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := key.GetKeyMetadata().GetKeyId()
	if _, err := lead.srv.EnableKeyRotation(ctx, &kmsv1.EnableKeyRotationRequest{KeyId: id, RotationPeriodInDays: 90}); err != nil {
		t.Fatal(err)
	}
	extID := importOnMember(t, lead, base.Now().Add(300*24*time.Hour))
	alive := ms
	for day := 1; day <= 1000; day++ {
		base.Advance(24 * time.Hour)
		for _, m := range alive {
			m.srv.runDue(ctx) // only the leader proposes
		}
		if day == 400 {
			l := leaderOf(t, alive)
			l.node.Shutdown()
			alive = without(alive, l)
			leaderOf(t, alive)
		}
	}
	waitApplied(t, alive)
	for _, m := range alive {
		k, _ := m.store.Key(id)
		if want := 1 + 1000/90; len(k.Versions) != want {
			t.Fatalf("%d versions after 1,000 days of 90-day rotation, want %d", len(k.Versions), want)
		}
		ext, _ := m.store.Key(extID)
		if ext.State != "PendingImport" {
			t.Fatalf("imported material not expired: %s", ext.State)
		}
	}
}

func without(ms []*member, x *member) []*member {
	var out []*member
	for _, m := range ms {
		if m != x {
			out = append(out, m)
		}
	}
	return out
}
