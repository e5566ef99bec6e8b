package envelope

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoWeakRandomness: no non-test file of the package imports math/rand
// (C14); all key material, salts and IVs come from the caller's reader,
// crypto/rand in production. The package imports nothing of kmsd either.
func TestNoWeakRandomness(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		for _, path := range fileImports(t, name) {
			if path == "math/rand" || path == "math/rand/v2" {
				t.Errorf("%s imports %s", name, path)
			}
			if strings.HasPrefix(path, "github.com/kmsd/") {
				t.Errorf("%s imports %s; envelope depends only on the standard library", name, path)
			}
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d source files checked", checked)
	}
}

func fileImports(t *testing.T, name string) []string {
	t.Helper()
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}
