package envelope

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestKeyIsRedacted: no way of printing a Key reveals it (L2).
func TestKeyIsRedacted(t *testing.T) {
	k := mustKey(t, bytes.Repeat([]byte{0xab}, 32))
	raw := k.Bytes()
	secretForms := []string{hex.EncodeToString(raw), "171 171 171", "0xab", "[171"}
	wrapper := struct {
		Name string
		Key  Key
		Ptr  *Key
	}{"k", k, &k}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, wrapper))
	}
	js, _ := json.Marshal(wrapper)
	outs = append(outs, string(js))
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("key", "key", k, "wrapper", wrapper)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("key", "key", k)
	outs = append(outs, logBuf.String())
	for _, out := range outs {
		for _, s := range secretForms {
			if strings.Contains(out, s) {
				t.Fatalf("output %q reveals the key (%q)", out, s)
			}
		}
		if !strings.Contains(out, "[REDACTED]") {
			t.Fatalf("output %q does not say [REDACTED]", out)
		}
	}
}

func TestKeyFromBytesCopies(t *testing.T) {
	b := seq(0, 32)
	k := mustKey(t, b)
	b[0] = 0xff
	if k.Bytes()[0] != 0 {
		t.Fatal("Key aliases its input")
	}
	k.Bytes()[1] = 0xff
	if k.Bytes()[1] != 1 {
		t.Fatal("Bytes returns the internal array")
	}
	if _, err := KeyFromBytes(make([]byte, 31)); err != ErrInvalidKey {
		t.Fatalf("31-byte key: %v", err)
	}
	mid := k.MaterialID()
	if got, err := ParseMaterialID(mid.String()); err != nil || got != mid {
		t.Fatalf("material id round trip: %v", err)
	}
	if _, err := ParseMaterialID("zz"); err == nil {
		t.Fatal("bad material id accepted")
	}
}

// TestIDsAsText: key ids and material ids travel as their string forms in
// JSON and come back unchanged; malformed ones are refused.
func TestIDsAsText(t *testing.T) {
	id, _ := ParseKeyID(katKeyID)
	mid, _ := ParseMaterialID(katMaterialID)
	type record struct {
		KeyID      KeyID
		MaterialID MaterialID
	}
	js, err := json.Marshal(record{id, mid})
	want := `{"KeyID":"` + katKeyID + `","MaterialID":"` + katMaterialID + `"}`
	if err != nil || string(js) != want {
		t.Fatalf("json.Marshal = %s, %v; want %s", js, err, want)
	}
	var back record
	if err := json.Unmarshal(js, &back); err != nil || back != (record{id, mid}) {
		t.Fatalf("json.Unmarshal = %+v, %v", back, err)
	}
	for i, bad := range []string{
		`{"KeyID":"1234abcd"}`, `{"MaterialID":"` + katMaterialID[1:] + `"}`, `{"KeyID":[1,2]}`,
	} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("case %d: %s accepted", i, bad)
		}
	}
}
