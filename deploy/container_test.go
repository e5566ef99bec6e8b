package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/version"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	containerFile = "container/Containerfile"
	ignoreFile    = "container/Containerfile.dockerignore"
)

// instruction is one Containerfile instruction, continuation lines joined.
type instruction struct {
	cmd, args string
	line      int
}

// parseContainerfile parses Dockerfile syntax: instructions, # comments
// (also between continued lines) and lines continued by a final backslash.
func parseContainerfile(b []byte) ([]instruction, error) {
	var out []instruction
	var cur *instruction
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		more := strings.HasSuffix(line, `\`)
		line = strings.TrimSpace(strings.TrimSuffix(line, `\`))
		if cur == nil {
			cmd, args, _ := strings.Cut(line, " ")
			if strings.ToUpper(cmd) != cmd {
				return nil, fmt.Errorf("line %d: instruction %q is not upper case", n, cmd)
			}
			cur = &instruction{cmd: cmd, args: strings.TrimSpace(args), line: n}
		} else {
			cur.args += " " + line
		}
		if !more {
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: continued past the end of the file", cur.line)
	}
	return out, sc.Err()
}

// image is what the Containerfile's final stage holds and runs.
type image struct {
	user       string            // USER of the final stage
	entrypoint []string          // ENTRYPOINT, exec form
	owned      map[string]string // paths copied with --chown, to the owner
	binaries   []string          // programs built into /usr/local/bin
}

// knownInstructions are the Dockerfile instructions.
var knownInstructions = []string{"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
	"VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}

var (
	goInstall = regexp.MustCompile(`GOBIN=/out(\S+) go install[^@]*\s(\S+)@(\S+)`)
	goBuildTo = regexp.MustCompile(`go build [^&]*-o /out(\S+)`)
	pinnedMod = regexp.MustCompile(`^v\d+\.\d+\.\d+$`)
)

// containerfile checks the Containerfile and returns its final image.
func (c *checker) containerfile(b []byte, goVersion string) image {
	ins, err := parseContainerfile(b)
	if err != nil {
		c.errorf("%s: %v", containerFile, err)
		return image{}
	}
	img := image{owned: map[string]string{}}
	var stages []string
	cgo := false
	for _, in := range ins {
		where := fmt.Sprintf("%s:%d", containerFile, in.line)
		if !slices.Contains(knownInstructions, in.cmd) {
			c.errorf("%s: unknown instruction %s", where, in.cmd)
		}
		switch in.cmd {
		case "FROM":
			f := strings.Fields(in.args)
			c.pinnedImage(where, f[0], goVersion)
			name := fmt.Sprint(len(stages))
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				name = f[2]
			}
			stages = append(stages, name)
			img.user, img.entrypoint = "", nil // a new stage starts empty
		case "ENV", "RUN":
			cgo = cgo || strings.Contains(in.args, "CGO_ENABLED=0")
			for _, m := range goBuildTo.FindAllStringSubmatch(in.args, -1) {
				img.binaries = append(img.binaries, m[1])
			}
			for _, m := range goInstall.FindAllStringSubmatch(in.args, -1) {
				if !pinnedMod.MatchString(m[3]) {
					c.errorf("%s: go install %s@%s is not pinned to a release", where, m[2], m[3])
				}
				img.binaries = append(img.binaries, m[1]+"/"+path.Base(m[2]))
			}
		case "COPY":
			c.copyInstruction(where, in.args, stages, &img)
		case "USER":
			img.user = in.args
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in.args), &img.entrypoint); err != nil {
				c.errorf("%s: ENTRYPOINT is not in exec (JSON) form: %v", where, err)
			}
		}
	}
	if len(stages) < 2 {
		c.errorf("%s: %d stages, want a build stage and a final one", containerFile, len(stages))
	}
	if !cgo {
		c.errorf("%s: CGO_ENABLED=0 is not set", containerFile)
	}
	if u, _, _ := strings.Cut(img.user, ":"); u == "" || u == "root" || u == "0" {
		c.errorf("%s: the final stage runs as %q, want a non-root USER", containerFile, img.user)
	}
	if len(img.entrypoint) == 0 || !slices.Contains(img.binaries, img.entrypoint[0]) {
		c.errorf("%s: ENTRYPOINT %q is not a program the build stage makes (%q)", containerFile, img.entrypoint, img.binaries)
	}
	return img
}

// pinnedImage checks that a base image is scratch, a digest, or a tag that
// names a version; a golang image must be at least the go.mod version.
func (c *checker) pinnedImage(where, ref, goVersion string) {
	if ref == "scratch" || strings.Contains(ref, "@sha256:") {
		return
	}
	name, tag, ok := strings.Cut(path.Base(ref), ":")
	if !ok || tag == "latest" || !strings.ContainsAny(tag, "0123456789") {
		c.errorf("%s: base image %s is not pinned to a version", where, ref)
		return
	}
	if name == "golang" {
		v, _, _ := strings.Cut(tag, "-")
		if version.Compare("go"+v, "go"+goVersion) < 0 {
			c.errorf("%s: %s is older than go %s, which go.mod requires", where, ref, goVersion)
		}
	}
}

func (c *checker) copyInstruction(where, args string, stages []string, img *image) {
	f := strings.Fields(args)
	chown := ""
	for len(f) > 0 && strings.HasPrefix(f[0], "--") {
		k, v, _ := strings.Cut(strings.TrimPrefix(f[0], "--"), "=")
		switch k {
		case "from":
			if !slices.Contains(stages, v) {
				c.errorf("%s: COPY --from=%s names no earlier stage", where, v)
			}
		case "chown":
			chown = v
		}
		f = f[1:]
	}
	if chown != "" && len(f) > 0 {
		img.owned[f[len(f)-1]] = chown
	}
}

func goModVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(readFile(t, "../go.mod"))
	if m == nil {
		t.Fatal("../go.mod: no go line")
	}
	return string(m[1])
}

func readImage(t *testing.T, c *checker) image {
	t.Helper()
	return c.containerfile(readFile(t, containerFile), goModVersion(t))
}

func TestContainerfile(t *testing.T) {
	c := newChecker(t)
	defer c.report(t)
	img := readImage(t, c)
	if img.entrypoint[0] != "/usr/local/bin/kmsd" {
		c.errorf("%s: ENTRYPOINT %q, want /usr/local/bin/kmsd", containerFile, img.entrypoint)
	}
	ignore := strings.Fields(string(readFile(t, ignoreFile)))
	for _, p := range []string{".git", "kmsd-data", "**/kmsd-data"} {
		if !slices.Contains(ignore, p) {
			c.errorf("%s: %s is not excluded from the build context", ignoreFile, p)
		}
	}
}

func TestContainerfileCheckerCatchesMistakes(t *testing.T) {
	good := "FROM golang:1.26.8 AS build\nENV CGO_ENABLED=0\nRUN go build -o /out/k ./cmd/kmsd\n" +
		"FROM scratch\nCOPY --from=build /out/ /\nUSER 65532\nENTRYPOINT [\"/k\"]\n"
	for i, b := range []string{
		strings.Replace(good, "golang:1.26.8", "golang:latest", 1),
		strings.Replace(good, "golang:1.26.8", "golang", 1),
		strings.Replace(good, "golang:1.26.8", "golang:1.25.1", 1),
		strings.Replace(good, "USER 65532", "USER root", 1),
		strings.Replace(good, "USER 65532\n", "", 1),
		strings.Replace(good, "CGO_ENABLED=0", "CGO_ENABLED=1", 1),
		strings.Replace(good, "--from=build", "--from=builder", 1),
		strings.Replace(good, `["/k"]`, "/k", 1),
		strings.Replace(good, "RUN go build", "RUN GOBIN=/out/bin go install x/y@latest && go build", 1),
		strings.Replace(good, "FROM scratch", "FROM scratch\nRUN \\", 1) + "\\\n",
	} {
		c := newChecker(t)
		c.containerfile([]byte(b), "1.26.8")
		if len(c.problems) == 0 {
			t.Errorf("Test %d: passed the checks:\n%s", i, b)
		}
	}
	c := newChecker(t)
	if c.containerfile([]byte(good), "1.26.8"); len(c.problems) > 0 {
		t.Errorf("the good case fails: %q", c.problems)
	}
}
