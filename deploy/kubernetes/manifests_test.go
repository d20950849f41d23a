// The manifests in this directory are checked here as far as can be done
// without a cluster: every document decodes strictly (no unknown or
// duplicate field) into its k8s.io/api type, and the pieces fit together
// as an operator would check by reading them.
package kubernetes_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

type manifests struct {
	statefulSets []*appsv1.StatefulSet
	services     map[string]*corev1.Service
	pdbs         []*policyv1.PodDisruptionBudget
}

// load decodes every document of every *.yaml file here.
func load(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	m := manifests{services: map[string]*corev1.Service{}}
	sep := regexp.MustCompile(`(?m)^---\s*$`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range sep.Split(string(b), -1) {
			where := fmt.Sprintf("%s, document %d", f, i+1)
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var tm struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 StatefulSet":
				s := &appsv1.StatefulSet{}
				m.statefulSets = append(m.statefulSets, s)
				obj = s
			case "v1 Service":
				obj = &corev1.Service{}
			case "policy/v1 PodDisruptionBudget":
				p := &policyv1.PodDisruptionBudget{}
				m.pdbs = append(m.pdbs, p)
				obj = p
			default:
				t.Fatalf("%s: %s %s is not a kind this test knows: add it", where, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s: strict decoding into %T: %v", where, obj, err)
			}
			if s, ok := obj.(*corev1.Service); ok {
				m.services[s.Name] = s
			}
		}
	}
	return m
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := load(t)
	if len(m.statefulSets) != 1 || len(m.services) != 2 || len(m.pdbs) != 1 {
		t.Fatalf("%d StatefulSets, %d Services, %d PodDisruptionBudgets; want 1, 2 and 1",
			len(m.statefulSets), len(m.services), len(m.pdbs))
	}
}

// A strict decoder that let unknown fields through would make every other
// check here weaker: prove it refuses one.
func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	doc := "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {maxUnavailable: 1, maxUnavaliable: 2}\n"
	if err := yaml.UnmarshalStrict([]byte(doc), &policyv1.PodDisruptionBudget{}); err == nil {
		t.Fatal("a misspelt field decoded without an error")
	}
}

func TestStatefulSetFitsTogether(t *testing.T) {
	m := load(t)
	ss := m.statefulSets[0]
	spec := ss.Spec
	labels := spec.Template.Labels
	matches := func(sel map[string]string) bool {
		for k, v := range sel {
			if labels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	if !matches(spec.Selector.MatchLabels) {
		t.Errorf("selector %v does not select the pod template's labels %v", spec.Selector.MatchLabels, labels)
	}

	peers, ok := m.services[spec.ServiceName]
	if !ok || peers.Spec.ClusterIP != corev1.ClusterIPNone || !peers.Spec.PublishNotReadyAddresses {
		t.Fatalf("serviceName %q: want a headless Service (clusterIP None) that publishes pods before they are ready", spec.ServiceName)
	}
	var client *corev1.Service
	for name, s := range m.services {
		if name != spec.ServiceName {
			client = s
		}
	}
	for _, s := range []*corev1.Service{peers, client} {
		if !matches(s.Spec.Selector) {
			t.Errorf("Service %s selects %v, not the pods %v", s.Name, s.Spec.Selector, labels)
		}
	}

	if len(spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Template.Spec.Containers))
	}
	c := spec.Template.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["resp"] != 6379 || ports["grpc"] != 7379 || ports["http"] != 8379 {
		t.Errorf("container ports %v, want resp 6379, grpc 7379, http 8379 (the image's)", ports)
	}
	for _, s := range m.services {
		for _, p := range s.Spec.Ports {
			if _, ok := ports[p.TargetPort.String()]; !ok {
				t.Errorf("Service %s port %s targets %q, which the container does not name", s.Name, p.Name, p.TargetPort.String())
			}
		}
	}
	if ports := client.Spec.Ports; len(ports) != 3 {
		t.Errorf("client Service %s has %d ports, want RESP, gRPC and HTTP", client.Name, len(ports))
	}

	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe: %+v, want GET %s on the http port", name, p, path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/livez")
	probe("startup", c.StartupProbe, "/livez")
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		t.Error("no preStop hook")
	}
	if g := spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < 30 {
		t.Errorf("terminationGracePeriodSeconds %v: want at least 30, above a node's own drain", g)
	}
	if spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q: founders must start together (Parallel)", spec.PodManagementPolicy)
	}

	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["CAIRN_NAME"] != "$(POD_NAME)" || env["CAIRN_DATA_DIR"] != c.VolumeMounts[0].MountPath {
		t.Errorf("CAIRN_NAME %q, CAIRN_DATA_DIR %q: want the pod's name and the volume's mount", env["CAIRN_NAME"], env["CAIRN_DATA_DIR"])
	}
	if spec.VolumeClaimTemplates[0].Name != c.VolumeMounts[0].Name {
		t.Errorf("the data volume %q is not the claim template %q", c.VolumeMounts[0].Name, spec.VolumeClaimTemplates[0].Name)
	}
	// Stable names: pod <sts>-<i> is node <sts>-<i>, found at
	// <sts>-<i>.<serviceName>:<grpc>.
	var want []string
	for i := range int(*spec.Replicas) {
		pod := fmt.Sprintf("%s-%d", ss.Name, i)
		want = append(want, fmt.Sprintf("%s=%s.%s:%d", pod, pod, spec.ServiceName, ports["grpc"]))
	}
	if got := env["CAIRN_INITIAL_CLUSTER"]; got != strings.Join(want, ",") {
		t.Errorf("CAIRN_INITIAL_CLUSTER %q, want %q", got, strings.Join(want, ","))
	}
	if got, want := env["CAIRN_ADVERTISE_GRPC_ADDR"], fmt.Sprintf("$(POD_NAME).%s:%d", spec.ServiceName, ports["grpc"]); got != want {
		t.Errorf("CAIRN_ADVERTISE_GRPC_ADDR %q, want %q", got, want)
	}

	// The user the pod runs as is the image's (Dockerfile's USER).
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	sc := spec.Template.Spec.SecurityContext
	user := fmt.Sprintf("USER %d:%d", *sc.RunAsUser, *sc.RunAsGroup)
	if !bytes.Contains(df, []byte("\n"+user+"\n")) || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("pod runs as %d:%d (non-root %v); the Dockerfile has no %q", *sc.RunAsUser, *sc.RunAsGroup, sc.RunAsNonRoot, user)
	}
}

func TestDisruptionBudget(t *testing.T) {
	m := load(t)
	p := m.pdbs[0]
	if p.Spec.MaxUnavailable == nil || p.Spec.MaxUnavailable.IntValue() != 1 || p.Spec.MinAvailable != nil {
		t.Errorf("PodDisruptionBudget: maxUnavailable %v, minAvailable %v; want maxUnavailable 1 alone", p.Spec.MaxUnavailable, p.Spec.MinAvailable)
	}
	labels := m.statefulSets[0].Spec.Template.Labels
	for k, v := range p.Spec.Selector.MatchLabels {
		if labels[k] != v {
			t.Errorf("PodDisruptionBudget selects %s=%s; the pods have %v", k, v, labels)
		}
	}
}
