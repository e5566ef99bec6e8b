package server

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/kmsd/kmsd/keystore"
)

// The sequential specification TestLinearizability checks histories
// against: one key's state, with the operations' outcomes as AWS KMS
// defines them. Histories are partitioned by key.

// linKind is an operation of the history.
type linKind uint8

const (
	linCreate linKind = iota
	linDescribe
	linEncrypt
	linEnable
	linDisable
	linRotate
	linSchedule
	linCancel
)

var linKindNames = [...]string{"Create", "Describe", "Encrypt", "Enable", "Disable", "Rotate", "ScheduleDeletion", "CancelDeletion"}

func (k linKind) String() string { return linKindNames[k] }

type linInput struct {
	kind linKind
	key  string
}

// linOutput is an operation's outcome. A mutation whose outcome is
// unknown (the member timed out, went down or lost leadership) is recorded
// with unknown set and no return time: it may take effect at any point
// after its call, or never.
type linOutput struct {
	unknown bool
	// exc is the AWS exception name of a definite failure, "" on success.
	exc string
	// state is the KeyState DescribeKey returned.
	state string
	// material is the current key material: CurrentKeyMaterialId for
	// CreateKey and DescribeKey, the ciphertext header's for Encrypt.
	material string
}

// linKey is the model's state of one key. It is compared with ==.
type linKey struct {
	exists   bool
	state    keystore.State
	versions int
	onDemand int
	// current is the current material's id, "" while no response has
	// shown the material a rotation added; past lists the earlier ones.
	current string
	past    string
}

func linStep(state, input, output any) (bool, any) {
	k, in, out := state.(linKey), input.(linInput), output.(linOutput)
	if in.kind == linCreate {
		if k.exists || out.unknown || out.exc != "" {
			return false, k
		}
		return true, linKey{exists: true, state: keystore.Enabled, versions: 1, current: out.material}
	}
	if !k.exists {
		return out.unknown || out.exc == excNotFound, k
	}
	next, exc := k.apply(in.kind)
	if out.unknown {
		return true, next
	}
	if in.kind == linRotate && out.exc == excConflict {
		// The key changed between the member's read and the commit:
		// nothing was done.
		return true, k
	}
	if out.exc != exc {
		return false, k
	}
	if out.exc == "" && (in.kind == linDescribe || in.kind == linEncrypt) {
		if in.kind == linDescribe && out.state != string(k.state) {
			return false, k
		}
		return next.observe(out.material)
	}
	return true, next
}

// apply returns the key after operation kind and the exception the
// operation fails with ("" if it succeeds).
func (k linKey) apply(kind linKind) (linKey, string) {
	refuse := excInvalidState
	if k.state == keystore.Disabled {
		refuse = excDisabled
	}
	switch kind {
	case linDescribe:
		return k, ""
	case linEncrypt:
		if k.state != keystore.Enabled {
			return k, refuse
		}
		return k, ""
	case linEnable, linDisable:
		if k.state == keystore.PendingDeletion {
			return k, excInvalidState
		}
		k.state = keystore.Enabled
		if kind == linDisable {
			k.state = keystore.Disabled
		}
		return k, ""
	case linRotate:
		switch {
		case k.state != keystore.Enabled:
			return k, refuse
		case k.onDemand >= keystore.MaxOnDemandRotations:
			return k, excLimitExceeded
		}
		k.versions++
		k.onDemand++
		k.past += k.current + " "
		k.current = ""
		return k, ""
	case linSchedule:
		if k.state == keystore.PendingDeletion {
			return k, excInvalidState
		}
		k.state = keystore.PendingDeletion
		return k, ""
	case linCancel:
		if k.state != keystore.PendingDeletion {
			return k, excInvalidState
		}
		k.state = keystore.Disabled
		return k, ""
	}
	panic(fmt.Sprintf("unknown operation %d", kind))
}

// observe checks that a response showing material as current agrees with
// the key: the current material if known, else one never used before (the
// material of the latest rotation), which becomes known.
func (k linKey) observe(material string) (bool, any) {
	if k.current != "" {
		return material == k.current, k
	}
	if material == "" || strings.Contains(k.past, material) {
		return false, k
	}
	k.current = material
	return true, k
}

var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string]int{}
		var parts [][]porcupine.Operation
		for _, op := range history {
			key := op.Input.(linInput).key
			i, ok := byKey[key]
			if !ok {
				i = len(parts)
				byKey[key] = i
				parts = append(parts, nil)
			}
			parts[i] = append(parts[i], op)
		}
		return parts
	},
	Init: func() any { return linKey{} },
	Step: linStep,
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		var res string
		switch {
		case out.unknown:
			res = "unknown"
		case out.exc != "":
			res = out.exc
		case in.kind == linDescribe:
			res = out.state + " " + linShort(out.material)
		case in.kind == linEncrypt || in.kind == linCreate:
			res = linShort(out.material)
		default:
			res = "ok"
		}
		return fmt.Sprintf("%s(%s) -> %s", in.kind, linShort(in.key), res)
	},
	DescribeState: func(state any) string {
		k := state.(linKey)
		if !k.exists {
			return "absent"
		}
		return fmt.Sprintf("%s, %d versions (%d on demand), current %s", k.state, k.versions, k.onDemand, linShort(k.current))
	},
}

func linShort(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	if id == "" {
		return "?"
	}
	return id
}

// linExplain describes the first partition (key) porcupine finds not
// linearizable: its operations in call order.
func linExplain(ops []porcupine.Operation) string {
	for _, part := range linModel.Partition(ops) {
		if porcupine.CheckOperationsTimeout(linModel, part, 10*time.Second) != porcupine.Illegal {
			continue
		}
		sort.Slice(part, func(i, j int) bool { return part[i].Call < part[j].Call })
		var b strings.Builder
		for _, op := range part {
			ret := "inf"
			if op.Return != math.MaxInt64 {
				ret = fmt.Sprintf("%.3f", float64(op.Return)/1e9)
			}
			fmt.Fprintf(&b, "  p%-3d [%.3f, %s] %s\n", op.ClientId, float64(op.Call)/1e9, ret, linModel.DescribeOperation(op.Input, op.Output))
		}
		return b.String()
	}
	return ""
}
