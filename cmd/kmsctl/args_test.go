package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFlagsBecomeRequests: each command line sends exactly this request.
func TestFlagsBecomeRequests(t *testing.T) {
	dir := t.TempDir()
	raw := writeFile(t, dir, "raw", []byte{0, 0xff, '\n', 'x'})
	ctxJSON := writeFile(t, dir, "ctx.json", []byte(`{"team":"pay", "purpose":"a=b,c"}`+"\n"))
	ctxShort := writeFile(t, dir, "ctx.txt", []byte("k=v\n"))
	tagsJSON := writeFile(t, dir, "tags.json", []byte(`[{"TagKey":"env","TagValue":"prod"}]`))
	b64File := writeFile(t, dir, "b64", []byte("aGVsbG8=\n"))
	hello := []byte("hello")
	cases := []struct {
		name  string
		stdin string
		args  []string
		want  proto.Message
	}{
		{"base64 plaintext", "", []string{"encrypt", "--key-id", "k", "--plaintext", "aGVsbG8="},
			&kmsv1.EncryptRequest{KeyId: "k", Plaintext: hello}},
		{"--flag=value", "", []string{"encrypt", "--key-id=k", "--plaintext=aGVsbG8="},
			&kmsv1.EncryptRequest{KeyId: "k", Plaintext: hello}},
		{"fileb://", "", []string{"encrypt", "--key-id", "k", "--plaintext", "fileb://" + raw},
			&kmsv1.EncryptRequest{KeyId: "k", Plaintext: []byte{0, 0xff, '\n', 'x'}}},
		{"file:// base64 blob", "", []string{"encrypt", "--key-id", "k", "--plaintext", "file://" + b64File},
			&kmsv1.EncryptRequest{KeyId: "k", Plaintext: hello}},
		{"stdin", "from\x00stdin", []string{"encrypt", "--key-id", "k", "--plaintext", "-"},
			&kmsv1.EncryptRequest{KeyId: "k", Plaintext: []byte("from\x00stdin")}},
		{"context shorthand", "", []string{"encrypt", "--key-id", "k", "--plaintext", "aGVsbG8=", "--encryption-context", "a=b,c=d=e"},
			&kmsv1.EncryptRequest{KeyId: "k", Plaintext: hello, EncryptionContext: map[string]string{"a": "b", "c": "d=e"}}},
		{"context JSON", "", []string{"encrypt", "--key-id", "k", "--plaintext", "aGVsbG8=", "--encryption-context", `{"a":"b","c":"x,y"}`},
			&kmsv1.EncryptRequest{KeyId: "k", Plaintext: hello, EncryptionContext: map[string]string{"a": "b", "c": "x,y"}}},
		{"context file:// JSON", "", []string{"decrypt", "--ciphertext-blob", "Y3Q6eA==", "--encryption-context", "file://" + ctxJSON},
			&kmsv1.DecryptRequest{CiphertextBlob: []byte("ct:x"), EncryptionContext: map[string]string{"team": "pay", "purpose": "a=b,c"}}},
		{"context file:// shorthand", "", []string{"decrypt", "--ciphertext-blob", "Y3Q6eA==", "--encryption-context=file://" + ctxShort},
			&kmsv1.DecryptRequest{CiphertextBlob: []byte("ct:x"), EncryptionContext: map[string]string{"k": "v"}}},
		{"decrypt options", "", []string{"decrypt", "--ciphertext-blob", "fileb://" + raw, "--key-id", "k",
			"--encryption-algorithm", "SYMMETRIC_DEFAULT", "--grant-tokens", "g1", "g2", "--dry-run"},
			&kmsv1.DecryptRequest{CiphertextBlob: []byte{0, 0xff, '\n', 'x'}, KeyId: "k", EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
				GrantTokens: []string{"g1", "g2"}, DryRun: true}},
		{"tags shorthand", "", []string{"create-key", "--tags", "TagKey=a,TagValue=b", "TagKey=c,TagValue=", "--description", "x y"},
			&kmsv1.CreateKeyRequest{Description: "x y", Tags: []*kmsv1.Tag{{TagKey: "a", TagValue: "b"}, {TagKey: "c"}}}},
		{"tags JSON", "", []string{"create-key", "--tags", `[{"TagKey":"a","TagValue":"b"},{"TagKey":"c","TagValue":"d"}]`},
			&kmsv1.CreateKeyRequest{Tags: []*kmsv1.Tag{{TagKey: "a", TagValue: "b"}, {TagKey: "c", TagValue: "d"}}}},
		{"tags file://", "", []string{"tag-resource", "--key-id", "k", "--tags", "file://" + tagsJSON},
			&kmsv1.TagResourceRequest{KeyId: "k", Tags: []*kmsv1.Tag{{TagKey: "env", TagValue: "prod"}}}},
		{"create-key options", "", []string{"create-key", "--key-usage", "ENCRYPT_DECRYPT", "--key-spec", "SYMMETRIC_DEFAULT", "--origin", "EXTERNAL"},
			&kmsv1.CreateKeyRequest{KeyUsage: "ENCRYPT_DECRYPT", KeySpec: "SYMMETRIC_DEFAULT", Origin: "EXTERNAL"}},
		{"tag keys", "", []string{"untag-resource", "--tag-keys", "a", "b", "--key-id", "k"},
			&kmsv1.UntagResourceRequest{KeyId: "k", TagKeys: []string{"a", "b"}}},
		{"re-encrypt", "", []string{"re-encrypt", "--ciphertext-blob", "Y3Q6eA==", "--source-key-id", "s", "--destination-key-id", "d",
			"--source-encryption-context", "a=1", "--destination-encryption-context", `{"b":"2"}`},
			&kmsv1.ReEncryptRequest{CiphertextBlob: []byte("ct:x"), SourceKeyId: "s", DestinationKeyId: "d",
				SourceEncryptionContext: map[string]string{"a": "1"}, DestinationEncryptionContext: map[string]string{"b": "2"}}},
		{"data key", "", []string{"generate-data-key", "--key-id", "k", "--number-of-bytes", "64", "--encryption-context", "f=a"},
			&kmsv1.GenerateDataKeyRequest{KeyId: "k", NumberOfBytes: 64, EncryptionContext: map[string]string{"f": "a"}}},
		{"data key without plaintext", "", []string{"generate-data-key-without-plaintext", "--key-id", "k", "--key-spec", "AES_128"},
			&kmsv1.GenerateDataKeyWithoutPlaintextRequest{KeyId: "k", KeySpec: "AES_128"}},
		{"schedule deletion", "", []string{"schedule-key-deletion", "--key-id", "k", "--pending-window-in-days", "7"},
			&kmsv1.ScheduleKeyDeletionRequest{KeyId: "k", PendingWindowInDays: 7}},
		{"global flags after the command", "", []string{"describe-key", "--key-id", "k", "--output", "text", "--timeout=5s"},
			&kmsv1.DescribeKeyRequest{KeyId: "k"}},
		{"generate-random", "", []string{"generate-random", "--number-of-bytes", "4"},
			&kmsv1.GenerateRandomRequest{NumberOfBytes: 4}},
		{"list-keys --limit --marker", "", []string{"list-keys", "--limit", "3", "--marker", "1"},
			&kmsv1.ListKeysRequest{Limit: 3, Marker: "1"}},
		{"list-keys --starting-token", "", []string{"list-keys", "--starting-token", "3"},
			&kmsv1.ListKeysRequest{Marker: "3"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, addr := startFake(t)
			if _, stderr, code := ctl(t, addr, c.stdin, c.args...); code != 0 {
				t.Fatalf("Test %d: exit %d: %s", i, code, stderr)
			}
			reqs := f.requests()
			if len(reqs) == 0 {
				t.Fatalf("Test %d: no request sent", i)
			}
			if !proto.Equal(c.want, reqs[0]) {
				t.Errorf("Test %d: request\n got %s\nwant %s", i, prototext.Format(reqs[0]), prototext.Format(c.want))
			}
		})
	}
}

// TestUsageErrors: mistakes on the command line exit 252 with a message
// on stderr, and send nothing.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{}, "no command"},
		{[]string{"no-such-command"}, `unknown command "no-such-command"`},
		{[]string{"encrypt", "--key-id", "k"}, "--plaintext is required"},
		{[]string{"encrypt", "--key-id", "k", "--plaintext", "%%%not-base64"}, "not valid base64"},
		{[]string{"encrypt", "--key-id", "k", "--plaintext", "fileb://" + missing}, "no such file"},
		{[]string{"encrypt", "--key-id", "k", "--plaintext", "file://" + missing}, "no such file"},
		{[]string{"encrypt", "--key-id", "k", "--plaintext", "eA==", "--no-such-flag", "1"}, "unknown flag --no-such-flag"},
		{[]string{"encrypt", "--key-id", "k", "--plaintext", "eA==", "--encryption-context", "novalue"}, `"novalue" is not Key=Value`},
		{[]string{"encrypt", "--key-id", "k", "--plaintext", "eA==", "--encryption-context", `{"a":1}`}, "not a JSON object of strings"},
		{[]string{"encrypt", "--key-id", "k", "--plaintext", "eA==", "--encryption-context", "file://" + missing}, "no such file"},
		{[]string{"encrypt", "--key-id", "k", "--plaintext", "eA==", "--encryption-context", "a=1,a=2"}, `key "a" given twice`},
		{[]string{"create-key", "--tags", "Nonsense"}, `"Nonsense" is not TagKey=KEY,TagValue=VALUE`},
		{[]string{"create-key", "--tags", "TagValue=v"}, "has no TagKey"},
		{[]string{"create-key", "--tags", `[{"TagKey":1}]`}, "not a JSON list of tags"},
		{[]string{"create-key", "--tags"}, "--tags needs a value"},
		{[]string{"create-key", "--tags", "file://" + missing}, "no such file"},
		{[]string{"generate-random", "--number-of-bytes", "abc"}, `"abc" is not a whole number`},
		{[]string{"generate-random", "--number-of-bytes", "99999999999"}, "out of range"},
		{[]string{"describe-key", "--key-id"}, "--key-id needs a value"},
		{[]string{"describe-key", "--key-id", "a", "--key-id", "b"}, "--key-id given twice"},
		{[]string{"describe-key", "k"}, `unexpected argument "k"`},
		{[]string{"describe-key", "--key-id", "k", "--output", "yaml"}, "--output must be json or text"},
		{[]string{"describe-key", "--key-id", "k", "--query", "Keys[x]"}, `"x" is not a list index`},
		{[]string{"describe-key", "--key-id", "k", "--query", ""}, "--query is empty"},
		{[]string{"describe-key", "--key-id", "k", "--outfile", filepath.Join(dir, "out")}, "--outfile is not supported by describe-key"},
		{[]string{"generate-data-key", "--key-id", "k", "--key-spec", "AES_256", "--outfile", filepath.Join(missing, "dk")}, "is not a directory"},
		{[]string{"describe-key", "--key-id", "k", "--timeout", "soon"}, "not a positive duration"},
		{[]string{"list-keys", "--max-items", "0"}, "--max-items must be at least 1"},
		{[]string{"list-keys", "--marker", "1", "--starting-token", "2"}, "not both"},
		{[]string{"help", "no-such-command"}, `unknown command "no-such-command"`},
		{[]string{"--no-such-flag", "list-keys"}, "list-keys: unknown flag --no-such-flag"},
		{[]string{"--output", "text", "--no-such-flag"}, "no command"},
		{[]string{"import-key-material", "--key-id", "k", "--import-token", "-", "--encrypted-key-material", "-"}, "standard input is already used"},
	}
	for i, c := range cases {
		args := c.args
		f, addr := startFake(t)
		stdout, stderr, code := ctl(t, addr, "", args...)
		if code != exitUsage || !strings.Contains(stderr, c.msg) {
			t.Errorf("Test %d: kmsctl %q: exit %d, stderr %q; want %d and %q", i, args, code, stderr, exitUsage, c.msg)
		}
		if stdout != "" {
			t.Errorf("Test %d: kmsctl %q printed %q on stdout", i, args, stdout)
		}
		if n := len(f.requests()); n != 0 {
			t.Errorf("Test %d: kmsctl %q sent %d requests", i, args, n)
		}
	}
}

// TestEndOfFlags: after "--", the one remaining argument is the command's
// positional argument even when it looks like a flag; anything else around
// "--" is a usage error.
func TestEndOfFlags(t *testing.T) {
	restore := commandOf([]string{"cluster", "snapshot", "restore"})
	if restore == nil || restore.positional != "infile" {
		t.Fatalf("cluster snapshot restore: %+v", restore)
	}
	cases := []struct {
		args []string
		want string // the infile, or "" for a usage error
	}{
		{[]string{"backup.kmsd"}, "backup.kmsd"},
		{[]string{"--", "-backup.kmsd"}, "-backup.kmsd"},
		{[]string{"--", "--infile"}, "--infile"},
		{[]string{"--output", "json", "--", "-x"}, "-x"},
		{[]string{"--infile=-x"}, "-x"},
		{[]string{"-x"}, ""},
		{[]string{"--"}, ""},
		{[]string{"--", "a", "b"}, ""},
		{[]string{"a", "--", "b"}, ""},
		{[]string{"--infile", "a", "--", "b"}, ""},
	}
	for _, c := range cases {
		pa, err := parseArgs(restore, c.args, nil)
		switch {
		case c.want == "" && err == nil:
			t.Errorf("%q: parsed as infile %q, want a usage error", c.args, pa.strings["infile"])
		case c.want != "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.want != "" && pa.strings["infile"] != c.want:
			t.Errorf("%q: infile %q, want %q", c.args, pa.strings["infile"], c.want)
		}
	}
	// A command without a positional argument takes no "--".
	if _, err := parseArgs(commandOf([]string{"describe-key"}), []string{"--key-id", "k", "--", "x"}, nil); err == nil {
		t.Error(`describe-key accepted "--"`)
	}
}
