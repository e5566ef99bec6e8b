package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"gopkg.in/yaml.v3"
)

// kmsdConfigSource is the file that defines kmsd's settings. cmd/kmsd is a
// command, so its Config type is read from the source rather than imported.
// kmsdConfigSources hold type Config and the types embedded in it.
var kmsdConfigSources = []string{"../cmd/kmsd/config.go", "../cmd/kmsd/configops.go"}

// setting is one field of kmsd's Config: its file keys and Go type name
// (bool, string, int, uint32, uint64, float64, Duration, ByteSize or
// PeerList).
type setting struct {
	yamlKey, tomlKey, goType string
}

// loadSettings reads kmsd's settings, by YAML key, from the Config
// struct's field tags, and those of the structs embedded in it inline.
var loadSettings = sync.OnceValues(func() (map[string]setting, error) {
	structs := map[string]*ast.StructType{}
	for _, src := range kmsdConfigSources {
		f, err := parser.ParseFile(token.NewFileSet(), src, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok {
				if st, ok := ts.Type.(*ast.StructType); ok {
					structs[ts.Name.Name] = st
				}
			}
			return true
		})
	}
	out := map[string]setting{}
	var walk func(name string) error
	walk = func(name string) error {
		st, ok := structs[name]
		if !ok {
			return fmt.Errorf("%v: no struct type %s", kmsdConfigSources, name)
		}
		for _, field := range st.Fields.List {
			if field.Tag == nil {
				continue // not a setting of the file
			}
			tag, _ := strconv.Unquote(field.Tag.Value)
			stag := reflect.StructTag(tag)
			if len(field.Names) == 0 && strings.HasSuffix(stag.Get("yaml"), ",inline") {
				if err := walk(typeName(field.Type)); err != nil {
					return err
				}
				continue
			}
			s := setting{yamlKey: stag.Get("yaml"), tomlKey: stag.Get("toml"), goType: typeName(field.Type)}
			out[s.yamlKey] = s
		}
		return nil
	}
	if err := walk("Config"); err != nil {
		return nil, err
	}
	for _, k := range []string{"node_id", "data_dir", "root_key_file", "peers", "grpc_addr", "raft_addr", "http_addr", "audit_retention",
		"rate_limit_crypto", "grpc_max_connections", "min_free_disk"} {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("%v: found no setting %q in type Config (found %d); the source walk is broken", kmsdConfigSources, k, len(out))
		}
	}
	return out, nil
})

// checker collects the problems found in the deployment files.
type checker struct {
	settings map[string]setting // kmsd's settings by YAML key
	problems []string
}

func newChecker(t *testing.T) *checker {
	t.Helper()
	s, err := loadSettings()
	if err != nil {
		t.Fatal(err)
	}
	return &checker{settings: s}
}

func (c *checker) errorf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

// report fails t with every problem found.
func (c *checker) report(t *testing.T) {
	t.Helper()
	for _, p := range c.problems {
		t.Error(p)
	}
}

// typeName names a field's type; only plain identifiers are expected.
func typeName(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return "?"
}

// config is a kmsd configuration as read from a file and flags: strings,
// bools, uint64s and, for peers, []string.
type config map[string]any

func (cfg config) str(key string) string {
	s, _ := cfg[key].(string)
	return s
}

func (cfg config) peers() []string {
	p, _ := cfg["peers"].([]string)
	return p
}

// value checks one setting's value against its Go type and returns it in
// config's representation. kind is what the file holds: "bool", "string",
// "int" (v is then its text) or "list" (of strings).
func (c *checker) value(where string, s setting, kind string, v any) any {
	bad := func() any {
		c.errorf("%s: %s = %v (%s) is not a valid %s", where, s.yamlKey, v, kind, s.goType)
		return nil
	}
	want := map[string]string{"bool": "bool", "string": "string", "uint64": "int", "uint32": "int", "int": "int", "float64": "int",
		"Duration": "string", "ByteSize": "string", "PeerList": "list"}[s.goType]
	switch {
	case want == "":
		c.errorf("%s: setting %s has Go type %s, which this test does not know: teach checker.value about it", where, s.yamlKey, s.goType)
		return nil
	case kind != want:
		return bad()
	case s.goType == "uint64" || s.goType == "uint32":
		n, err := strconv.ParseUint(v.(string), 10, map[string]int{"uint64": 64, "uint32": 32}[s.goType])
		if err != nil {
			return bad()
		}
		return n
	case s.goType == "int":
		n, err := strconv.ParseInt(v.(string), 10, 64)
		if err != nil {
			return bad()
		}
		return n
	case s.goType == "float64":
		f, err := strconv.ParseFloat(v.(string), 64)
		if err != nil || f < 0 {
			return bad()
		}
		return f
	case s.goType == "ByteSize":
		if !byteSizeRE.MatchString(v.(string)) {
			return bad()
		}
	case s.goType == "Duration":
		if _, err := time.ParseDuration(v.(string)); err != nil {
			return bad()
		}
	case s.goType == "PeerList":
		for _, p := range v.([]string) {
			if _, _, _, err := parsePeer(p); err != nil {
				c.errorf("%s: peers: %v", where, err)
			}
		}
	}
	return v
}

// byteSizeRE is what kmsd's ByteSize accepts.
var byteSizeRE = regexp.MustCompile(`^\s*[0-9]+\s*(GiB|MiB|KiB|B)?\s*$`)

// parsePeer splits "ID=RAFT_ADDR/GRPC_ADDR" as kmsd does.
func parsePeer(s string) (id, raftAddr, grpcAddr string, err error) {
	id, addrs, ok1 := strings.Cut(s, "=")
	raftAddr, grpcAddr, ok2 := strings.Cut(addrs, "/")
	if !ok1 || !ok2 || id == "" {
		return "", "", "", fmt.Errorf("peer %q is not ID=RAFT_ADDR/GRPC_ADDR", s)
	}
	for _, a := range []string{raftAddr, grpcAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return "", "", "", fmt.Errorf("peer %q: %v", s, err)
		}
	}
	return id, raftAddr, grpcAddr, nil
}

// yamlConfig reads a kmsd YAML configuration, reporting any setting kmsd
// does not have and any value of the wrong type.
func (c *checker) yamlConfig(where string, b []byte) config {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		c.errorf("%s: %v", where, err)
		return config{}
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		c.errorf("%s: not a YAML mapping", where)
		return config{}
	}
	out := config{}
	m := doc.Content[0].Content
	for i := 0; i+1 < len(m); i += 2 {
		key := m[i].Value
		s, ok := c.settings[key]
		if !ok {
			c.errorf("%s:%d: kmsd has no setting %q", where, m[i].Line, key)
			continue
		}
		if _, dup := out[key]; dup {
			c.errorf("%s:%d: %s is set twice", where, m[i].Line, key)
		}
		kind, v := yamlValue(m[i+1])
		out[key] = c.value(where, s, kind, v)
	}
	return out
}

func yamlValue(n *yaml.Node) (kind string, v any) {
	if n.Kind == yaml.SequenceNode {
		var l []string
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode || e.Tag != "!!str" {
				return "mixed list", nil
			}
			l = append(l, e.Value)
		}
		return "list", l
	}
	switch n.Tag {
	case "!!bool":
		b, _ := strconv.ParseBool(n.Value)
		return "bool", b
	case "!!str":
		return "string", n.Value
	case "!!int":
		return "int", n.Value
	}
	return n.Tag, n.Value
}

// tomlConfig is yamlConfig for TOML.
func (c *checker) tomlConfig(where string, b []byte) config {
	byKey := map[string]setting{}
	for _, s := range c.settings {
		byKey[s.tomlKey] = s
	}
	var m map[string]any
	if _, err := toml.Decode(string(b), &m); err != nil {
		c.errorf("%s: %v", where, err)
		return config{}
	}
	out := config{}
	for key, raw := range m {
		s, ok := byKey[key]
		if !ok {
			c.errorf("%s: kmsd has no setting %q", where, key)
			continue
		}
		kind, v := tomlValue(raw)
		out[s.yamlKey] = c.value(where, s, kind, v)
	}
	return out
}

func tomlValue(raw any) (kind string, v any) {
	switch x := raw.(type) {
	case bool:
		return "bool", x
	case string:
		return "string", x
	case int64:
		return "int", strconv.FormatInt(x, 10)
	case []any:
		var l []string
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return "mixed list", nil
			}
			l = append(l, s)
		}
		return "list", l
	}
	return fmt.Sprintf("%T", raw), raw
}

// withFlags returns cfg with kmsd command-line flags (from an ExecStart, a
// compose command or container args) applied, reporting unknown flags.
// Flags win over the file, as in kmsd; --config is kept as "config".
func (c *checker) withFlags(where string, cfg config, args []string) config {
	out := maps.Clone(cfg)
	for i := 0; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-") {
			c.errorf("%s: argument %q is not a flag", where, args[i])
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		s, ok := c.settings[strings.ReplaceAll(name, "-", "_")]
		if !ok && name != "config" {
			c.errorf("%s: kmsd has no flag --%s", where, name)
			continue
		}
		if !hasVal && s.goType != "bool" {
			if i+1 == len(args) {
				c.errorf("%s: flag --%s has no value", where, name)
				continue
			}
			i++
			val = args[i]
		}
		switch {
		case name == "config":
			out["config"] = val
		case s.goType == "PeerList":
			out[s.yamlKey] = c.value(where, s, "list", strings.Split(val, ","))
		case s.goType == "uint64":
			out[s.yamlKey] = c.value(where, s, "int", val)
		case s.goType == "bool":
			out[s.yamlKey] = c.value(where, s, "bool", val != "false")
		default:
			out[s.yamlKey] = c.value(where, s, "string", val)
		}
	}
	return out
}

// member checks the settings that make cfg one member of a three-node
// cluster: three peers with distinct ids, this node among them at the
// addresses it listens on, and a root key file.
func (c *checker) member(where string, cfg config) {
	peers := cfg.peers()
	if len(peers) != 3 {
		c.errorf("%s: peers lists %d members, want 3: %q", where, len(peers), peers)
	}
	if !strings.HasPrefix(cfg.str("root_key_file"), "/") {
		c.errorf("%s: root_key_file %q is not an absolute path", where, cfg.str("root_key_file"))
	}
	if cfg["dev"] == true || cfg["insecure_no_audit"] == true {
		c.errorf("%s: dev or insecure_no_audit is set", where)
	}
	ids := map[string]bool{}
	for _, p := range peers {
		id, raftAddr, grpcAddr, err := parsePeer(p)
		if err != nil {
			continue // reported by value
		}
		if ids[id] {
			c.errorf("%s: peer %q is listed twice", where, id)
		}
		ids[id] = true
		if id == cfg.str("node_id") {
			c.serves(where, "raft_addr", cfg.str("raft_addr"), raftAddr)
			c.serves(where, "grpc_addr", cfg.str("grpc_addr"), grpcAddr)
		}
	}
	if !ids[cfg.str("node_id")] {
		c.errorf("%s: node_id %q is not among the peers %q", where, cfg.str("node_id"), peers)
	}
}

// serves checks that a listen address serves the address this node's peer
// entry gives: the same port, and the same host unless it listens on every
// interface.
func (c *checker) serves(where, key, listen, advertised string) {
	lh, lp, err1 := net.SplitHostPort(listen)
	ah, ap, err2 := net.SplitHostPort(advertised)
	if err1 != nil || err2 != nil || lp != ap || (lh != ah && lh != "0.0.0.0" && lh != "") {
		c.errorf("%s: %s %q does not serve this node's peer address %q", where, key, listen, advertised)
	}
}

// mentionsEverySetting checks that an example sets or mentions (in a
// comment) each of kmsd's settings, so that a new setting gets documented.
func (c *checker) mentionsEverySetting(where string, b []byte, keyOf func(setting) string, sep string) {
	for _, s := range c.settings {
		re := regexp.MustCompile(`(?m)^#?\s*` + regexp.QuoteMeta(keyOf(s)) + `\s*` + sep)
		if !re.Match(b) {
			c.errorf("%s: setting %s is neither set nor mentioned; document it", where, keyOf(s))
		}
	}
}

// read returns a file's contents, reporting a file it cannot read.
func (c *checker) read(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		c.errorf("%v", err)
	}
	return b
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	exampleYAML = "config/kmsd.example.yaml"
	exampleTOML = "config/kmsd.example.toml"
)

func TestExampleConfigYAML(t *testing.T) {
	c := newChecker(t)
	defer c.report(t)
	b := readFile(t, exampleYAML)
	cfg := c.yamlConfig(exampleYAML, b)
	c.member(exampleYAML, cfg)
	c.mentionsEverySetting(exampleYAML, b, func(s setting) string { return s.yamlKey }, ":")
	if dir := unitStateDir(t); cfg.str("data_dir") != dir {
		c.errorf("%s: data_dir %q is not the systemd unit's state directory %q", exampleYAML, cfg.str("data_dir"), dir)
	}
}

func TestExampleConfigTOML(t *testing.T) {
	c := newChecker(t)
	defer c.report(t)
	b := readFile(t, exampleTOML)
	cfg := c.tomlConfig(exampleTOML, b)
	c.member(exampleTOML, cfg)
	c.mentionsEverySetting(exampleTOML, b, func(s setting) string { return s.tomlKey }, "=")
	if y := c.yamlConfig(exampleYAML, readFile(t, exampleYAML)); !reflect.DeepEqual(cfg, y) {
		c.errorf("%s and %s set different values:\nTOML %v\nYAML %v", exampleTOML, exampleYAML, cfg, y)
	}
}

// TestCheckerCatchesMistakes keeps the checks honest: each case must be
// reported.
func TestCheckerCatchesMistakes(t *testing.T) {
	base := "node_id: a\nroot_key_file: /k\ngrpc_addr: 0.0.0.0:1\nraft_addr: 0.0.0.0:2\n"
	for i, tc := range []struct{ yaml, toml string }{
		{yaml: "log_lvel: info\n"},
		{yaml: "raft_timeout: 5 minutes\n"},
		{yaml: "snapshot_threshold: many\n"},
		{yaml: "account_id: 111122223333\n"},
		{yaml: "peers: a=x:2/y:1\n"},
		{yaml: "peers: [a=x:2]\n"},
		{yaml: "peers: [a=x:9/y:1, b=x:2/y:1, c=x:2/y:1]\n"},
		{yaml: "peers: [a=x:2/y:1, b=x:2/y:1, b=x:2/y:1]\n"},
		{yaml: "peers: [b=x:2/y:1, c=x:2/y:1, d=x:2/y:1]\n"},
		{toml: "node_id = 'a'\nlog_lvel = 'info'\n"},
		{toml: "node_id = 'a'\nsnapshot_threshold = '8192'\n"},
	} {
		c := newChecker(t)
		if tc.yaml != "" {
			c.member("case", c.yamlConfig("case", []byte(base+tc.yaml)))
		} else {
			c.tomlConfig("case", []byte(tc.toml))
		}
		if len(c.problems) == 0 {
			t.Errorf("Test %d: %q passed the checks", i, tc.yaml+tc.toml)
		}
	}
	c := newChecker(t)
	c.withFlags("case", config{}, []string{"--node-idd=a"})
	if len(c.problems) == 0 {
		t.Error("an unknown flag passed the checks")
	}
}
