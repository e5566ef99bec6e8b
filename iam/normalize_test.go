package iam

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Test-plan row S3: 1,000 mutants of action names, ARNs, principal names,
// encryption context keys and alias names (case, Unicode look-alikes,
// white space, trailing '/', '.' and '..' segments, doubled '/',
// decomposed accents, encodings). Action names are case-insensitive; every
// other mutant is a different name or a refused one, and none is allowed
// by a policy that allows only the canonical name: 0 bypasses.

var confusables = map[rune][]rune{
	'a': {'а', 'ɑ', 'ａ'}, 'e': {'е', 'ｅ'}, 'o': {'о', 'ο', '０'}, 'p': {'р', 'ρ'},
	'c': {'с', 'ϲ'}, 'i': {'і', 'ı', 'ｉ'}, 'k': {'κ', 'K'}, 'K': {'K', 'Κ'},
	's': {'ѕ', 'ſ'}, 'y': {'у'}, 'x': {'х'}, 'l': {'ӏ', 'I', '1'}, '1': {'l', '１'},
	'/': {'∕', '⁄', '／'}, ':': {'꞉', '：'}, '-': {'‐', '−'}, 'D': {'Ꭰ'}, 'E': {'Е'},
}

func mutate(r *rand.Rand, s string) string {
	runes := []rune(s)
	i := r.IntN(len(runes))
	switch r.IntN(12) {
	case 0: // flip the case of one letter
		for j := range runes {
			k := (i + j) % len(runes)
			if unicode.IsLetter(runes[k]) {
				if unicode.IsUpper(runes[k]) {
					runes[k] = unicode.ToLower(runes[k])
				} else {
					runes[k] = unicode.ToUpper(runes[k])
				}
				break
			}
		}
		return string(runes)
	case 1:
		if r.IntN(2) == 0 {
			return strings.ToUpper(s)
		}
		return strings.ToLower(s)
	case 2: // a look-alike
		for j := range runes {
			k := (i + j) % len(runes)
			if alts, ok := confusables[runes[k]]; ok {
				runes[k] = alts[r.IntN(len(alts))]
				return string(runes)
			}
		}
		return s + "\u0430"
	case 3:
		return pick(r, " ", "\t", "\u00a0", "\u200b", "\ufeff") + s
	case 4:
		return s + pick(r, " ", "\t", "\n", "\u00a0", "\u200b", "\x00")
	case 5:
		return s + "/"
	case 6:
		if k := strings.LastIndexByte(s, '/'); k >= 0 {
			return s[:k] + pick(r, "/./", "//", "/x/../") + s[k+1:]
		}
		return s + "/.."
	case 7: // a zero-width character inside
		return string(runes[:i]) + pick(r, "\u200b", "\u200d", "\u2060") + string(runes[i:])
	case 8: // a combining mark
		return string(runes[:i+1]) + "\u0301" + string(runes[i+1:])
	case 9: // percent-encoding of one byte
		b := s[i%len(s)]
		return s[:i%len(s)] + "%" + strings.ToUpper(string("0123456789abcdef"[b>>4])+string("0123456789abcdef"[b&15])) + s[i%len(s)+1:]
	case 10: // a fullwidth copy of one ASCII character
		if runes[i] > ' ' && runes[i] < 0x7f {
			runes[i] += 0xfee0
		}
		return string(runes)
	}
	// drop or double one character
	if r.IntN(2) == 0 && len(runes) > 1 {
		return string(runes[:i]) + string(runes[i+1:])
	}
	return string(runes[:i+1]) + string(runes[i:])
}

func TestNormalizationMutants(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 999))
	must := func(d string, kind Kind) *Policy { return parseT(t, d, kind, "p") }
	denyDecrypt := &PolicySet{Resource: must(doc(keyAnyoneAll, stmt("Deny", `"*"`, `"kms:Decrypt"`, `"*"`, "")), KeyPolicy)}
	onlyKey := &PolicySet{Resource: must(doc(enableIAM), KeyPolicy), Identity: []*Policy{must(doc(stmt("Allow", "", `"kms:*"`, `"`+keyARN+`"`, "")), IdentityPolicy)}}
	onlyAlice := &PolicySet{Resource: must(doc(keyAliceAll), KeyPolicy)}
	onlyApp := &PolicySet{Resource: must(doc(stmt("Allow", `"*"`, `"kms:*"`, `"*"`, `{"StringEquals":{"kms:EncryptionContext:app":"pay"}}`)), KeyPolicy)}
	grantApp := &PolicySet{Resource: must(doc(enableIAM), KeyPolicy), Grants: []Grant{{ID: "g", GranteePrincipal: alArn, Operations: []string{"Decrypt"}, EncryptionContextSubset: map[string]string{"app": "pay"}}}}
	onlyAlias := &PolicySet{Resource: must(doc(stmt("Allow", `"*"`, `"kms:*"`, `"*"`, `{"StringEquals":{"kms:RequestAlias":"alias/pay"}}`)), KeyPolicy)}
	alice := principals["alice"]

	targets := []string{"kms:Decrypt", keyARN, alArn, "app", "alias/pay"}
	seen := map[string]bool{}
	var bypasses, caseEquivalent, refusedOrDistinct int
	for n := 0; n < 1000; {
		ti := n % len(targets)
		m := mutate(r, targets[ti])
		if r.IntN(2) == 0 {
			m = mutate(r, m) // two mutations at once
		}
		if m == targets[ti] || seen[m] {
			continue
		}
		seen[m] = true
		n++
		bypass := false
		switch ti {
		case 0: // actions: case variants are the same action (denied), the rest refused
			d := Evaluate(&Request{Principal: alice, Action: m, Resource: keyARN}, denyDecrypt)
			bypass = d.Allowed()
			if p, err := Parse([]byte(doc(keyAnyoneAll, stmt("Deny", `"*"`, jsonString(m), `"*"`, ""))), KeyPolicy); err == nil {
				caseEquivalent++
				d := Evaluate(&Request{Principal: alice, Action: "kms:Decrypt", Resource: keyARN}, &PolicySet{Resource: p})
				bypass = bypass || d.Allowed() // an accepted spelling that does not deny
			} else {
				refusedOrDistinct++
			}
		case 1: // key ARNs
			bypass = Evaluate(&Request{Principal: alice, Action: "kms:Decrypt", Resource: m}, onlyKey).Allowed()
			if p, err := Parse([]byte(doc(stmt("Allow", "", `"kms:*"`, jsonString(m), ""))), IdentityPolicy); err == nil {
				ps := &PolicySet{Resource: onlyKey.Resource, Identity: []*Policy{p}}
				bypass = bypass || Evaluate(&Request{Principal: alice, Action: "kms:Decrypt", Resource: keyARN}, ps).Allowed()
			}
			refusedOrDistinct++
		case 2: // principal ARNs
			p := alice
			p.ARN = m
			bypass = Evaluate(&Request{Principal: p, Action: "kms:Decrypt", Resource: keyARN}, onlyAlice).Allowed()
			if kp, err := Parse([]byte(doc(stmt("Allow", `{"AWS":`+jsonString(m)+`}`, `"kms:*"`, `"*"`, ""))), KeyPolicy); err == nil {
				bypass = bypass || Evaluate(&Request{Principal: alice, Action: "kms:Decrypt", Resource: keyARN}, &PolicySet{Resource: kp}).Allowed()
			}
			refusedOrDistinct++
		case 3: // encryption context keys, in conditions and grant constraints
			if !utf8.ValidString(m) || strings.ContainsRune(m, 0) {
				refusedOrDistinct++
				continue
			}
			var q Request
			q = Request{Principal: alice, Action: "kms:Decrypt", Resource: keyARN}
			q.Context.SetEncryptionContext(map[string]string{m: "pay"})
			bypass = Evaluate(&q, onlyApp).Allowed() || Evaluate(&q, grantApp).Allowed()
			refusedOrDistinct++
		case 4: // alias names in condition values
			q := Request{Principal: alice, Action: "kms:Decrypt", Resource: keyARN}
			q.Context.Set("kms:RequestAlias", m)
			bypass = Evaluate(&q, onlyAlias).Allowed()
			refusedOrDistinct++
		}
		if bypass {
			bypasses++
			t.Errorf("bypass: %q for %q", m, targets[ti])
		}
	}
	t.Logf("1000 mutants: %d bypasses; %d action spellings accepted as the same action (and denied), %d refused or distinct", bypasses, caseEquivalent, refusedOrDistinct)
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteString(`\` + string(c))
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
