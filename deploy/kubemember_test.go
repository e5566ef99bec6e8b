package deploy

import (
	"fmt"
	"path"
	"regexp"
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
	if r == nil || r.GRPC == nil || r.GRPC.Port != ports["grpc"] || r.GRPC.Service != "kms.v1.KeyManagementService" {
		c.errorf("%s: want a grpc readinessProbe on port %d, service kms.v1.KeyManagementService", where, ports["grpc"])
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
	copied := false
	for _, ic := range sts.Template.Spec.InitContainers {
		for _, m := range ic.VolumeMounts {
			i, ok := vols[m.Name]
			if !ok || sts.Template.Spec.Volumes[i].Secret == nil {
				continue
			}
			s := sts.Template.Spec.Volumes[i].Secret
			if s.DefaultMode == nil || (*s.DefaultMode != 0o400 && *s.DefaultMode != 0o600) {
				c.errorf("%s: Secret %s: want defaultMode 0400 or 0600", where, s.SecretName)
			}
			dst, _ := mountAt(ic, "/keys")
			script := strings.Join(ic.Command, " ")
			copied = m.ReadOnly && dst == keyVol && strings.Contains(script, "umask 077") &&
				strings.Contains(script, m.MountPath+"/"+path.Base(cfg.str("root_key_file"))) &&
				strings.Contains(script, "/keys/"+path.Base(cfg.str("root_key_file")))
		}
	}
	if !copied {
		c.errorf("%s: no init container copies the root key from its Secret to %s with umask 077", where, cfg.str("root_key_file"))
	}
}
