package deploy

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const composeFile = "compose/compose.yaml"

// composeProject holds the parts of the Compose specification that
// compose.yaml uses; decoding is strict, so a misspelt key is an error.
type composeProject struct {
	Name     string                    `yaml:"name"`
	XKmsd    any                       `yaml:"x-kmsd"`
	Services map[string]composeService `yaml:"services"`
	Configs  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"configs"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Profiles        []string `yaml:"profiles"`
	Hostname        string   `yaml:"hostname"`
	Command         []string `yaml:"command"`
	ReadOnly        bool     `yaml:"read_only"`
	CapDrop         []string `yaml:"cap_drop"`
	SecurityOpt     []string `yaml:"security_opt"`
	Restart         string   `yaml:"restart"`
	StopGracePeriod string   `yaml:"stop_grace_period"`
	Volumes         []string `yaml:"volumes"`
	Ports           []string `yaml:"ports"`
	Configs         []struct {
		Source string `yaml:"source"`
		Target string `yaml:"target"`
	} `yaml:"configs"`
	Healthcheck *struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
	} `yaml:"healthcheck"`
}

func readCompose(t *testing.T) composeProject {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, composeFile)))
	dec.KnownFields(true)
	var p composeProject
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s: %v", composeFile, err)
	}
	return p
}

// mount splits a short-syntax volume "SOURCE:TARGET[:ro]".
func mount(v string) (source, target string, readOnly bool) {
	f := strings.Split(v, ":")
	if len(f) < 2 {
		return "", v, false
	}
	return f[0], f[1], len(f) > 2 && f[2] == "ro"
}

// mountOf returns the volume mounted at dir.
func (s composeService) mountOf(dir string) (source string, readOnly bool) {
	for _, v := range s.Volumes {
		if src, target, ro := mount(v); target == dir {
			return src, ro
		}
	}
	return "", false
}

func TestCompose(t *testing.T) {
	c := newChecker(t)
	defer c.report(t)
	p := readCompose(t)
	img := readImage(t, c)
	var members []string
	for name, s := range p.Services {
		if !slices.Contains(s.Profiles, "init") {
			members = append(members, name)
		}
		c.composeService(name, s, img)
	}
	if len(members) != 3 {
		t.Fatalf("%s: %d kmsd members (%q), want 3", composeFile, len(members), members)
	}
	dataVolumes := map[string]bool{}
	for _, name := range members {
		cfg := c.composeMember(p, name, img)
		src, _ := p.Services[name].mountOf(path.Dir(cfg.str("data_dir")))
		if dataVolumes[src] {
			c.errorf("%s: %s shares data volume %q with another member", composeFile, name, src)
		}
		dataVolumes[src] = true
		for _, peer := range cfg.peers() {
			id, raftAddr, _, _ := parsePeer(peer)
			if host, _, _ := strings.Cut(raftAddr, ":"); !slices.Contains(members, host) || host != id {
				c.errorf("%s: peer %q is not reached by the service name of member %s", composeFile, peer, id)
			}
		}
	}
	c.composeInit(p)
}

// composeService checks what every service shares: the image built from
// the Containerfile, a read-only root and no capabilities.
func (c *checker) composeService(name string, s composeService, img image) {
	where := composeFile + ": service " + name
	ctx := filepath.Join("compose", s.Build.Context)
	if !sameFile(filepath.Join(ctx, s.Build.Dockerfile), containerFile) || !sameFile(filepath.Join(ctx, "go.mod"), "../go.mod") {
		c.errorf("%s: builds %s in %s, want %s in the repository root", where, s.Build.Dockerfile, ctx, containerFile)
	}
	if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
		c.errorf("%s: want read_only, cap_drop ALL and no-new-privileges", where)
	}
	for _, v := range s.Volumes {
		if src, target, _ := mount(v); img.owned[target] == "" || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/") {
			c.errorf("%s: volume %q: want a named volume on a directory the image gives its user (%v)", where, v, img.owned)
		}
	}
}

// composeMember checks one member: its configuration file and flags, the
// root key volume read-only and its data volume, the health check and the
// published ports. It returns the member's configuration.
func (c *checker) composeMember(p composeProject, name string, img image) config {
	where := composeFile + ": service " + name
	s := p.Services[name]
	if len(s.Configs) != 1 {
		c.errorf("%s: %d configs, want the shared kmsd configuration", where, len(s.Configs))
		return config{}
	}
	file := filepath.Join("compose", p.Configs[s.Configs[0].Source].File)
	cfg := c.withFlags(where, c.yamlConfig(file, c.read(file)), s.Command)
	if cfg.str("config") != s.Configs[0].Target {
		c.errorf("%s: --config %q is not where the configuration is mounted (%s)", where, cfg.str("config"), s.Configs[0].Target)
	}
	c.member(where, cfg)
	if cfg.str("node_id") != name || s.Hostname != name {
		c.errorf("%s: node id %q and hostname %q, want both to be the service name", where, cfg.str("node_id"), s.Hostname)
	}
	if src, ro := s.mountOf(path.Dir(cfg.str("root_key_file"))); src == "" || !ro {
		c.errorf("%s: the root key's directory is not mounted read-only from a volume", where)
	}
	if src, _ := s.mountOf(path.Dir(cfg.str("data_dir"))); p.Volumes == nil || !hasKey(p.Volumes, src) {
		c.errorf("%s: the data directory's parent is not on a declared volume", where)
	}
	c.composeHealth(where, s, cfg, img)
	for _, port := range s.Ports {
		if !strings.HasPrefix(port, "127.0.0.1:") || strings.HasSuffix(port, ":"+portOf(cfg.str("raft_addr"))) {
			c.errorf("%s: port %q: publish only gRPC and HTTP, on 127.0.0.1", where, port)
		}
	}
	return cfg
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

func hasKey(m map[string]any, k string) bool {
	_, ok := m[k]
	return ok
}

func portOf(addr string) string {
	_, port, _ := strings.Cut(addr, ":")
	return port
}

// composeHealth checks that the health check runs a program in the image
// against the member's gRPC port and the KMS service.
func (c *checker) composeHealth(where string, s composeService, cfg config, img image) {
	h := s.Healthcheck
	if h == nil || len(h.Test) < 2 || h.Test[0] != "CMD" {
		c.errorf("%s: no exec-form (CMD) healthcheck", where)
		return
	}
	if !slices.Contains(img.binaries, h.Test[1]) {
		c.errorf("%s: the healthcheck runs %s, which the image does not have (%q)", where, h.Test[1], img.binaries)
	}
	for _, want := range []string{"-addr=127.0.0.1:" + portOf(cfg.str("grpc_addr")), "-service=kms.v1.KeyManagementService"} {
		if !slices.Contains(h.Test, want) {
			c.errorf("%s: the healthcheck lacks %s", where, want)
		}
	}
}

// composeInit checks the one-shot service that makes the root key.
func (c *checker) composeInit(p composeProject) {
	s, ok := p.Services["init"]
	where := composeFile + ": service init"
	if !ok || !slices.Equal(s.Profiles, []string{"init"}) {
		c.errorf("%s: missing, or not only in profile init", where)
		return
	}
	member := p.Services["kmsd-1"]
	cfg := c.withFlags(where, c.yamlConfig("compose/kmsd.yaml", c.read("compose/kmsd.yaml")), nil)
	want := []string{"init", "--root-key-file", cfg.str("root_key_file")}
	if !slices.Equal(s.Command, want) {
		c.errorf("%s: command %q, want %q", where, s.Command, want)
	}
	dir := path.Dir(cfg.str("root_key_file"))
	src, ro := s.mountOf(dir)
	msrc, _ := member.mountOf(dir)
	if src == "" || ro || src != msrc {
		c.errorf("%s: does not write to the members' root key volume (%q, members %q)", where, src, msrc)
	}
}
