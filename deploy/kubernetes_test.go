package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const kubeDir = "kubernetes"

// The parts of the Kubernetes objects that the checks read. Decoding is
// not strict: these are not the whole API.
type (
	kubeObject struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name      string            `yaml:"name"`
			Namespace string            `yaml:"namespace"`
			Labels    map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"` // ConfigMap
		Spec yaml.Node         `yaml:"spec"`
		file string
	}
	labelSelector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	statefulSetSpec struct {
		ServiceName          string        `yaml:"serviceName"`
		Replicas             *int          `yaml:"replicas"`
		PodManagementPolicy  string        `yaml:"podManagementPolicy"`
		Selector             labelSelector `yaml:"selector"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	}
	podSpec struct {
		SecurityContext struct {
			RunAsNonRoot        *bool  `yaml:"runAsNonRoot"`
			RunAsUser           *int   `yaml:"runAsUser"`
			FSGroup             *int   `yaml:"fsGroup"`
			FSGroupChangePolicy string `yaml:"fsGroupChangePolicy"`
		} `yaml:"securityContext"`
		InitContainers []container `yaml:"initContainers"`
		Containers     []container `yaml:"containers"`
		Volumes        []struct {
			Name   string `yaml:"name"`
			Secret *struct {
				SecretName  string `yaml:"secretName"`
				DefaultMode *int   `yaml:"defaultMode"`
			} `yaml:"secret"`
			ConfigMap *struct {
				Name string `yaml:"name"`
			} `yaml:"configMap"`
			EmptyDir *struct {
				Medium string `yaml:"medium"`
			} `yaml:"emptyDir"`
		} `yaml:"volumes"`
	}
	container struct {
		Name    string   `yaml:"name"`
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []struct {
			Name      string `yaml:"name"`
			ValueFrom struct {
				FieldRef struct {
					FieldPath string `yaml:"fieldPath"`
				} `yaml:"fieldRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe  *probe `yaml:"readinessProbe"`
		LivenessProbe   *probe `yaml:"livenessProbe"`
		StartupProbe    *probe `yaml:"startupProbe"`
		SecurityContext struct {
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			SubPath   string `yaml:"subPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		GRPC *struct {
			Port    int    `yaml:"port"`
			Service string `yaml:"service"`
		} `yaml:"grpc"`
		Exec *struct {
			Command []string `yaml:"command"`
		} `yaml:"exec"`
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	serviceSpec struct {
		ClusterIP                string            `yaml:"clusterIP"`
		PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
		Selector                 map[string]string `yaml:"selector"`
		Ports                    []struct {
			Name       string `yaml:"name"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
	}
	pdbSpec struct {
		MaxUnavailable *int          `yaml:"maxUnavailable"`
		Selector       labelSelector `yaml:"selector"`
	}
	networkPolicySpec struct {
		PodSelector labelSelector `yaml:"podSelector"`
		Ingress     []struct {
			Ports []struct {
				Port string `yaml:"port"`
			} `yaml:"ports"`
		} `yaml:"ingress"`
	}
)

// kubeKinds are the objects the manifests may hold, by kind.
var kubeKinds = map[string]string{
	"ConfigMap": "v1", "Service": "v1", "StatefulSet": "apps/v1",
	"PodDisruptionBudget": "policy/v1", "NetworkPolicy": "networking.k8s.io/v1",
}

// readKube decodes every document of every manifest that
// kustomization.yaml lists, and checks that it lists every manifest.
func readKube(t *testing.T, c *checker) []kubeObject {
	t.Helper()
	var kust struct {
		Kind      string   `yaml:"kind"`
		Resources []string `yaml:"resources"`
		Images    []struct {
			Name, NewName, NewTag string
		} `yaml:"images"`
	}
	if err := yaml.Unmarshal(readFile(t, filepath.Join(kubeDir, "kustomization.yaml")), &kust); err != nil || kust.Kind != "Kustomization" {
		t.Fatalf("%s/kustomization.yaml: %v (kind %q)", kubeDir, err, kust.Kind)
	}
	files, _ := filepath.Glob(filepath.Join(kubeDir, "*.yaml"))
	var want []string
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			want = append(want, filepath.Base(f))
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(kust.Resources)), want) {
		c.errorf("%s/kustomization.yaml lists %q; the directory has %q", kubeDir, kust.Resources, want)
	}
	var objs []kubeObject
	for _, f := range want {
		objs = append(objs, c.kubeDocuments(filepath.Join(kubeDir, f), readFile(t, filepath.Join(kubeDir, f)))...)
	}
	return objs
}

// kubeDocuments decodes all the documents in one manifest.
func (c *checker) kubeDocuments(file string, b []byte) []kubeObject {
	var out []kubeObject
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var o kubeObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			c.errorf("%s: document %d: %v", file, len(out)+1, err)
			return out
		}
		o.file = file
		if v, ok := kubeKinds[o.Kind]; !ok || v != o.APIVersion || o.Metadata.Name == "" {
			c.errorf("%s: document %d: %s %s %q is not an expected object", file, len(out)+1, o.APIVersion, o.Kind, o.Metadata.Name)
		}
		if o.Metadata.Namespace != "" {
			c.errorf("%s: %s %s sets a namespace; the manifests go into the one given to kubectl", file, o.Kind, o.Metadata.Name)
		}
		out = append(out, o)
	}
}

// spec decodes an object's spec into v.
func (c *checker) spec(o kubeObject, v any) {
	if err := o.Spec.Decode(v); err != nil {
		c.errorf("%s: %s %s: spec: %v", o.file, o.Kind, o.Metadata.Name, err)
	}
}

func find(objs []kubeObject, kind string) []kubeObject {
	var out []kubeObject
	for _, o := range objs {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// matches reports whether a selector selects pods with labels.
func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

func TestKubernetes(t *testing.T) {
	c := newChecker(t)
	defer c.report(t)
	objs := readKube(t, c)
	sets := find(objs, "StatefulSet")
	if len(sets) != 1 {
		t.Fatalf("%s: %d StatefulSets, want 1", kubeDir, len(sets))
	}
	var sts statefulSetSpec
	c.spec(sets[0], &sts)
	c.statefulSet(sets[0], sts, objs, readImage(t, c))
	labels := sts.Template.Metadata.Labels
	ports := map[string]bool{}
	for _, ctr := range sts.Template.Spec.Containers {
		for _, p := range ctr.Ports {
			ports[p.Name] = true
		}
	}
	c.services(objs, sts.ServiceName, labels, ports)
	for _, o := range find(objs, "PodDisruptionBudget") {
		var pdb pdbSpec
		c.spec(o, &pdb)
		if pdb.MaxUnavailable == nil || *pdb.MaxUnavailable != 1 || !matches(pdb.Selector.MatchLabels, labels) {
			c.errorf("%s: PodDisruptionBudget %s: want maxUnavailable 1 for the kmsd pods", o.file, o.Metadata.Name)
		}
	}
	if len(find(objs, "PodDisruptionBudget")) != 1 {
		c.errorf("%s: want one PodDisruptionBudget", kubeDir)
	}
	for _, o := range find(objs, "NetworkPolicy") {
		var np networkPolicySpec
		c.spec(o, &np)
		if !matches(np.PodSelector.MatchLabels, labels) {
			c.errorf("%s: NetworkPolicy %s does not select the kmsd pods", o.file, o.Metadata.Name)
		}
		for _, in := range np.Ingress {
			for _, p := range in.Ports {
				if !ports[p.Port] {
					c.errorf("%s: NetworkPolicy %s: port %q is not a kmsd container port", o.file, o.Metadata.Name, p.Port)
				}
			}
		}
	}
}

// services checks the headless Service the StatefulSet names and the
// clients' Service.
func (c *checker) services(objs []kubeObject, headless string, labels map[string]string, ports map[string]bool) {
	found := false
	for _, o := range find(objs, "Service") {
		var s serviceSpec
		c.spec(o, &s)
		where := fmt.Sprintf("%s: Service %s", o.file, o.Metadata.Name)
		if !matches(s.Selector, labels) {
			c.errorf("%s: does not select the kmsd pods", where)
		}
		for _, p := range s.Ports {
			if !ports[p.TargetPort] {
				c.errorf("%s: targetPort %q is not a kmsd container port", where, p.TargetPort)
			}
		}
		if o.Metadata.Name == headless {
			found = true
			if s.ClusterIP != "None" || !s.PublishNotReadyAddresses {
				c.errorf("%s: want clusterIP None and publishNotReadyAddresses (members find each other before any is ready)", where)
			}
		} else if s.ClusterIP == "None" || s.PublishNotReadyAddresses {
			c.errorf("%s: a client Service must route to ready members only", where)
		}
	}
	if !found || len(find(objs, "Service")) != 2 {
		c.errorf("%s: want the headless Service %q and one client Service", kubeDir, headless)
	}
}

// statefulSet checks the members: count, start policy, identity and peers,
// probes, security, and where the configuration, root key and data live.
func (c *checker) statefulSet(o kubeObject, sts statefulSetSpec, objs []kubeObject, img image) {
	where := fmt.Sprintf("%s: StatefulSet %s", o.file, o.Metadata.Name)
	if sts.Replicas == nil || *sts.Replicas != 3 || sts.PodManagementPolicy != "Parallel" {
		c.errorf("%s: want 3 replicas started in Parallel", where)
	}
	if !matches(sts.Selector.MatchLabels, sts.Template.Metadata.Labels) {
		c.errorf("%s: the selector does not match the pod template", where)
	}
	pod := sts.Template.Spec
	sc := pod.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.FSGroup == nil || sc.FSGroupChangePolicy != "OnRootMismatch" {
		c.errorf("%s: want runAsNonRoot, fsGroup and fsGroupChangePolicy OnRootMismatch", where)
	}
	if u, _, _ := strings.Cut(img.user, ":"); sc.RunAsUser == nil || fmt.Sprint(*sc.RunAsUser) != u {
		c.errorf("%s: runAsUser is not the image's user %q", where, img.user)
	}
	if len(pod.Containers) != 1 {
		c.errorf("%s: want one container", where)
		return
	}
	k := pod.Containers[0]
	for _, ctr := range append(slices.Clone(pod.InitContainers), k) {
		s := ctr.SecurityContext
		if s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem || s.AllowPrivilegeEscalation == nil ||
			*s.AllowPrivilegeEscalation || !slices.Contains(s.Capabilities.Drop, "ALL") {
			c.errorf("%s: container %s: want readOnlyRootFilesystem, no privilege escalation, capabilities dropped", where, ctr.Name)
		}
		if ctr.Image != "kmsd" && !regexp.MustCompile(`:[^:/]*\d[^:/]*$`).MatchString(ctr.Image) {
			c.errorf("%s: container %s: image %q is not pinned to a version", where, ctr.Name, ctr.Image)
		}
	}
	cfg := c.kubeMemberConfig(where, o.Metadata.Name, sts, k, objs)
	c.kubeProbes(where, k, cfg)
	c.kubeVolumes(where, sts, k, cfg)
}

// TestKubernetesCheckerCatchesMistakes mutates the real manifests and
// expects each change to be reported.
func TestKubernetesCheckerCatchesMistakes(t *testing.T) {
	img := readImage(t, newChecker(t))
	files := map[string][]byte{}
	for _, f := range []string{"statefulset.yaml", "services.yaml", "configmap.yaml"} {
		b, err := os.ReadFile(filepath.Join(kubeDir, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = b
	}
	for i, m := range []struct{ file, old, new string }{
		{"statefulset.yaml", "replicas: 3", "replicas: 5"},
		{"statefulset.yaml", "podManagementPolicy: Parallel", "podManagementPolicy: OrderedReady"},
		{"statefulset.yaml", "-service=kms.v1.KeyManagementService", "-service=kms"},
		{"statefulset.yaml", "-addr=127.0.0.1:7400", "-addr=127.0.0.1:7480"},
		{"statefulset.yaml", "- -tls\n", "- -v\n"},
		{"statefulset.yaml", "-tls-ca-cert=/etc/kmsd/keys/ca.pem", "-tls-ca-cert=/etc/ssl/ca.pem"},
		{"statefulset.yaml", "-tls-server-name=localhost", "-tls-server-name="},
		{"statefulset.yaml", "cat /tls/node-key.pem > /keys/node-key.pem", "cp /tls/node-key.pem /keys/node-key.pem"},
		{"statefulset.yaml", "secretName: kmsd-tls\n            defaultMode: 0400", "secretName: kmsd-tls\n            defaultMode: 0444"},
		{"configmap.yaml", "tls_key_file: /etc/kmsd/keys/node-key.pem", "tls_key_file: /etc/kmsd/node-key.pem"},
		{"configmap.yaml", "    tls_ca_file: /etc/kmsd/keys/ca.pem\n", ""},
		{"statefulset.yaml", "fsGroupChangePolicy: OnRootMismatch", "fsGroupChangePolicy: Always"},
		{"statefulset.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"},
		{"statefulset.yaml", "defaultMode: 0400", "defaultMode: 0444"},
		{"statefulset.yaml", "kmsd-2=kmsd-2.kmsd-peers", "kmsd-2=kmsd-3.kmsd-peers"},
		{"statefulset.yaml", "$(POD_NAMESPACE).svc.cluster.local:7401/kmsd-0", "$(NAMESPACE).svc.cluster.local:7401/kmsd-0"},
		{"statefulset.yaml", "umask 077 && ", ""},
		{"statefulset.yaml", "medium: Memory", "medium: \"\""},
		{"statefulset.yaml", "image: busybox:1.37.0", "image: busybox"},
		{"statefulset.yaml", "- --node-id=$(POD_NAME)", "- --nodeid=$(POD_NAME)"},
		{"services.yaml", "publishNotReadyAddresses: true", "publishNotReadyAddresses: false"},
		{"configmap.yaml", "data_dir: /var/lib/kmsd/data", "data_dir: /var/lib/kmsd2/data"},
		{"configmap.yaml", "log_format: json", "logformat: json"},
	} {
		if !bytes.Contains(files[m.file], []byte(m.old)) {
			t.Fatalf("Test %d: %s has no %q", i, m.file, m.old)
		}
		c := newChecker(t)
		var objs []kubeObject
		for f, b := range files {
			if f == m.file {
				b = bytes.Replace(b, []byte(m.old), []byte(m.new), 1)
			}
			objs = append(objs, c.kubeDocuments(f, b)...)
		}
		var sts statefulSetSpec
		c.spec(find(objs, "StatefulSet")[0], &sts)
		c.statefulSet(find(objs, "StatefulSet")[0], sts, objs, img)
		c.services(objs, sts.ServiceName, sts.Template.Metadata.Labels, map[string]bool{"grpc": true, "raft": true, "http": true})
		if len(c.problems) == 0 {
			t.Errorf("Test %d: %s with %q for %q passed the checks", i, m.file, m.new, m.old)
		}
	}
}
