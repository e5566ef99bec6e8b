package deploy

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// checked are the files the other tests parse; a new file needs a check.
var checked = map[string]bool{
	unitFile: true, sysusersFile: true, exampleYAML: true, exampleTOML: true,
	containerFile: true, ignoreFile: true, composeFile: true, "compose/kmsd.yaml": true,
	"README.md": true,
}

// TestEveryFileCheckedAndDocumented fails on a file in deploy/ that no test
// parses or that README.md does not mention.
func TestEveryFileCheckedAndDocumented(t *testing.T) {
	readme := string(readFile(t, "README.md"))
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".go") {
			return err
		}
		if !checked[p] && filepath.Dir(p) != kubeDir { // readKube parses every manifest there
			t.Errorf("%s is checked by no test", p)
		}
		if p != "README.md" && !strings.Contains(readme, filepath.Base(p)) {
			t.Errorf("README.md does not mention %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
