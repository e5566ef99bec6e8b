package kmsd

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/kmsd/kmsd/"

// allowed reports whether package dir (relative to the module root) may
// import module package dep (likewise relative), following the layout in the
// design: envelope, audit and iam import nothing of the module; keystore
// knows nothing of Raft; cluster never imports the API layers; kmsctl talks
// to kmsd only over gRPC; the encrypt client sees only the envelope
// format, the API protobufs and request signing; nothing imports a command.
func allowed(dir, dep string) bool {
	top, depTop := first(dir), first(dep)
	if depTop == "cmd" && top != "cmd" {
		return false
	}
	switch top {
	case "envelope", "audit", "iam", "keystore":
		return depTop == top
	case "encrypt":
		return depTop == top || depTop == "envelope" || depTop == "proto" || depTop == "auth"
	case "cluster":
		return depTop != "server" && depTop != "awsapi" && depTop != "cmd"
	}
	if strings.HasPrefix(dir, "cmd/kmsctl") {
		return depTop != "server" && depTop != "awsapi" && depTop != "keystore" && depTop != "cluster"
	}
	return true
}

func first(p string) string {
	top, _, _ := strings.Cut(p, "/")
	return top
}

// weakRandomAllowed lists the packages whose non-test code may use math/rand:
// none that handle keys.
var weakRandomAllowed = map[string]bool{"cmd/kmsbench": true}

func TestDependencyDirection(t *testing.T) {
	imports := moduleImports(t)
	if len(imports) < 5 {
		t.Fatalf("found only %d packages; the walk is broken", len(imports))
	}
	for dir, deps := range imports {
		for dep := range deps {
			if strings.HasPrefix(dep, module) {
				if rel := strings.TrimPrefix(dep, module); !allowed(dir, rel) {
					t.Errorf("forbidden import: %s imports %s", dir, rel)
				}
			}
			if (dep == "math/rand" || dep == "math/rand/v2") && !weakRandomAllowed[dir] {
				t.Errorf("%s imports %s; key material and nonces must come from crypto/rand", dir, dep)
			}
		}
	}
}

func TestAllowedTable(t *testing.T) {
	for _, c := range []struct {
		dir, dep string
		ok       bool
	}{
		{"envelope", "keystore", false},
		{"envelope", "envelope/internal/x", true},
		{"keystore", "cluster", false},
		{"keystore", "envelope", false},
		{"cluster", "keystore", true},
		{"cluster", "server", false},
		{"server", "cluster", true},
		{"cmd/kmsctl", "server", false},
		{"cmd/kmsctl", "proto/kms/v1", true},
		{"server", "cmd/kmsd", false},
		{"cmd/kmsd", "server", true},
		{"cmd/kmsd", "awsapi", true},
		{"awsapi", "server", true},
		{"cluster", "awsapi", false},
		{"cmd/kmsctl", "awsapi", false},
		{"envelope/message", "envelope", true},
		{"envelope/message", "proto/kms/v1", false},
		{"encrypt", "envelope/message", true},
		{"encrypt", "proto/kms/v1", true},
		{"encrypt/encrypttest", "envelope", true},
		{"encrypt", "server", false},
		{"encrypt", "keystore", false},
		{"cmd/kmsctl", "encrypt", true},
	} {
		if got := allowed(c.dir, c.dep); got != c.ok {
			t.Errorf("allowed(%q, %q) = %v, want %v", c.dir, c.dep, got, c.ok)
		}
	}
}

// moduleImports returns, for every package directory of the module, the set
// of paths its non-test, non-generated Go files import.
func moduleImports(t *testing.T) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if out[dir] == nil {
			out[dir] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			out[dir][p] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
