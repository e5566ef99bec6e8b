package deploy

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

// The checks of a kmsd container in the StatefulSet: its configuration,
// probes and volumes.

// kubeMemberConfig checks the kmsd container's configuration (the
// ConfigMap's file and the args, with the variables expanded as the kubelet
// does for pod kmsd-0) and returns it.
func (c *checker) kubeMemberConfig(where, name string, sts statefulSetSpec, k container, objs []kubeObject) config {
	env := map[string]string{}
	for _, e := range k.Env {
		env[e.Name] = map[string]string{"metadata.name": name + "-0", "metadata.namespace": "ns"}[e.ValueFrom.FieldRef.FieldPath]
	}
	args := make([]string, len(k.Args))
	for i, a := range k.Args {
		args[i] = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(a, func(ref string) string {
			v, ok := env[ref[2:len(ref)-1]]
			if !ok || v == "" {
				c.errorf("%s: args use %s, which no env entry defines", where, ref)
			}
			return v
		})
	}
	var configPath string
	for _, a := range args {
		if p, ok := strings.CutPrefix(a, "--config="); ok {
			configPath = p
		}
	}
	cfg := c.withFlags(where, c.kubeConfigFile(where, k, configPath, objs), args)
	c.member(where, cfg)
	if cfg.str("node_id") != name+"-0" {
		c.errorf("%s: node id %q is not the pod's name", where, cfg.str("node_id"))
	}
	for i, p := range cfg.peers() {
		id, raftAddr, grpcAddr, _ := parsePeer(p)
		host := fmt.Sprintf("%s-%d.%s.ns.svc.cluster.local", name, i, sts.ServiceName)
		if id != fmt.Sprintf("%s-%d", name, i) || raftAddr != host+":"+portOf(cfg.str("raft_addr")) ||
			grpcAddr != host+":"+portOf(cfg.str("grpc_addr")) {
			c.errorf("%s: peer %q is not pod %s-%d by its stable name %s", where, p, name, i, host)
		}
	}
	return cfg
}

// kubeConfigFile returns the configuration file the container mounts at
// path from a ConfigMap.
func (c *checker) kubeConfigFile(where string, k container, path string, objs []kubeObject) config {
	for _, m := range k.VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, o := range find(objs, "ConfigMap") {
			if data, ok := o.Data[m.SubPath]; ok {
				return c.yamlConfig(fmt.Sprintf("%s: ConfigMap %s: %s", o.file, o.Metadata.Name, m.SubPath), []byte(data))
			}
		}
	}
	c.errorf("%s: --config %q is not a ConfigMap file mounted with subPath", where, path)
	return config{}
}

// kubeProbes checks readiness through the gRPC health service and liveness
// through /healthz.
func (c *checker) kubeProbes(where string, k container, cfg config) {
	ports := map[string]int{}
	for _, p := range k.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for name, key := range map[string]string{"grpc": "grpc_addr", "raft": "raft_addr", "http": "http_addr"} {
		if fmt.Sprint(ports[name]) != portOf(cfg.str(key)) {
			c.errorf("%s: container port %s (%d) is not %s %q", where, name, ports[name], key, cfg.str(key))
		}
	}
	r := k.ReadinessProbe
	tls := cfg.str("tls_cert_file") != "" || cfg.str("tls_key_file") != "" || cfg.str("tls_ca_file") != ""
	if tls && (cfg.str("tls_cert_file") == "" || cfg.str("tls_key_file") == "" || cfg.str("tls_ca_file") == "") {
		c.errorf("%s: TLS needs tls_cert_file, tls_key_file and tls_ca_file", where)
	}
	switch {
	case r != nil && r.GRPC != nil && !tls:
		if r.GRPC.Port != ports["grpc"] || r.GRPC.Service != "kms.v1.KeyManagementService" {
			c.errorf("%s: want the grpc readinessProbe on port %d, service kms.v1.KeyManagementService", where, ports["grpc"])
		}
	case r != nil && r.Exec != nil:
		// grpc-health-probe, over TLS with the cluster CA when the API
		// serves TLS (kubelet's grpc probe cannot).
		want := []string{"/usr/local/bin/grpc-health-probe", fmt.Sprintf("-addr=127.0.0.1:%d", ports["grpc"]),
			"-service=kms.v1.KeyManagementService"}
		if tls {
			want = append(want, "-tls", "-tls-ca-cert="+cfg.str("tls_ca_file"))
		}
		for _, w := range want {
			if !slices.Contains(r.Exec.Command, w) {
				c.errorf("%s: the readinessProbe's command %q lacks %q", where, r.Exec.Command, w)
			}
		}
		if tls && !slices.ContainsFunc(r.Exec.Command, func(a string) bool {
			name, ok := strings.CutPrefix(a, "-tls-server-name=")
			return ok && name != ""
		}) {
			c.errorf("%s: the readinessProbe does not name the certificate's host (-tls-server-name)", where)
		}
	default:
		c.errorf("%s: want a readinessProbe through the gRPC health service (grpc, or grpc-health-probe over TLS)", where)
	}
	for _, p := range []*probe{k.LivenessProbe, k.StartupProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port != "http" {
			c.errorf("%s: want liveness and startup probes on GET /healthz", where)
		}
	}
}

// kubeVolumes checks that the data directory is on the claim template's
// volume, and that the root key reaches kmsd through an init container
// that copies it from the Secret to a memory-backed emptyDir.
func (c *checker) kubeVolumes(where string, sts statefulSetSpec, k container, cfg config) {
	mountAt := func(ctr container, dir string) (string, bool) {
		for _, m := range ctr.VolumeMounts {
			if m.MountPath == dir {
				return m.Name, m.ReadOnly
			}
		}
		return "", false
	}
	data, _ := mountAt(k, path.Dir(cfg.str("data_dir")))
	if len(sts.VolumeClaimTemplates) != 1 || sts.VolumeClaimTemplates[0].Metadata.Name != data {
		c.errorf("%s: data_dir %q is not inside the volumeClaimTemplate's mount", where, cfg.str("data_dir"))
	}
	vols := map[string]int{}
	for i, v := range sts.Template.Spec.Volumes {
		vols[v.Name] = i
	}
	keyVol, ro := mountAt(k, path.Dir(cfg.str("root_key_file")))
	if i, ok := vols[keyVol]; !ok || !ro || sts.Template.Spec.Volumes[i].EmptyDir == nil || sts.Template.Spec.Volumes[i].EmptyDir.Medium != "Memory" {
		c.errorf("%s: the root key's directory is not a read-only memory-backed emptyDir", where)
	}
	// The root key and, with TLS, the certificates and key: each copied
	// by an init container from a Secret into the same emptyDir.
	files := []string{cfg.str("root_key_file")}
	for _, key := range []string{"tls_cert_file", "tls_key_file", "tls_ca_file"} {
		if f := cfg.str(key); f != "" {
			files = append(files, f)
			if path.Dir(f) != path.Dir(cfg.str("root_key_file")) {
				c.errorf("%s: %s %q is not next to the root key in the memory-backed emptyDir", where, key, f)
			}
		}
	}
	for _, f := range files {
		if !c.copiedFromSecret(sts, keyVol, vols, path.Base(f)) {
			c.errorf("%s: no init container copies %s from a Secret to %s with umask 077", where, path.Base(f), f)
		}
	}
}

// copiedFromSecret reports whether an init container copies file name from
// a read-only Secret mount (mode 0400 or 0600) to /keys, the volume keyVol,
// with umask 077.
func (c *checker) copiedFromSecret(sts statefulSetSpec, keyVol string, vols map[string]int, name string) bool {
	for _, ic := range sts.Template.Spec.InitContainers {
		script := strings.Join(ic.Command, " ")
		dst := ""
		for _, m := range ic.VolumeMounts {
			if m.MountPath == "/keys" {
				dst = m.Name
			}
		}
		for _, m := range ic.VolumeMounts {
			i, ok := vols[m.Name]
			if !ok || sts.Template.Spec.Volumes[i].Secret == nil {
				continue
			}
			s := sts.Template.Spec.Volumes[i].Secret
			if s.DefaultMode == nil || (*s.DefaultMode != 0o400 && *s.DefaultMode != 0o600) {
				c.errorf("Secret %s: want defaultMode 0400 or 0600", s.SecretName)
				continue
			}
			if m.ReadOnly && dst == keyVol && strings.Contains(script, "umask 077") &&
				strings.Contains(script, "cat "+m.MountPath+"/"+name+" > /keys/"+name) {
				return true
			}
		}
	}
	return false
}
