package validate

import (
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestBase: the base builds, every object decodes strictly into its API
// type, and Ordo's rules hold.
func TestBase(t *testing.T) {
	objs, err := Build("../base")
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(objs); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[kindOf(o)]++
	}
	for kind, want := range map[string]int{
		"Deployment": 2, "Service": 1, "PodDisruptionBudget": 2, "Job": 2, "ConfigMap": 1, "ServiceAccount": 1, "ScaledObject": 1,
	} {
		if kinds[kind] != want {
			t.Errorf("%d %s objects, want %d (all: %v)", kinds[kind], kind, want, kinds)
		}
	}
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok && d.Spec.Template.Spec.Containers[0].Image != "ordo-dev/ordo:dev" {
			t.Errorf("Deployment %s: image %q, want the kustomize images entry ordo-dev/ordo:dev", d.Name, d.Spec.Template.Spec.Containers[0].Image)
		}
	}
}

// TestRejects: overlays of the base with one mistake each fail, with an
// error that names it.
func TestRejects(t *testing.T) {
	tests := []struct {
		dir, want string
	}{
		{"unknown-field", `unknown field "spec.replica"`},
		{"unknown-kind", `no kind "Deploymnet"`},
		{"keda-unknown-field", `unknown field "spec.maxReplicas"`},
		{"keda-over-partitions", "maxReplicaCount must be set and at most the partition count 12"},
		{"runs-as-root", "Deployment ordo-consumer: the pod must set runAsNonRoot"},
		{"missing-configmap", `envFrom ConfigMap "ordo-settings", which the build lacks`},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			objs, err := Build("testdata/" + tt.dir)
			if err == nil {
				err = Check(objs)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// kindOf is the name of the Go type an object was decoded into.
func kindOf(o runtime.Object) string { return reflect.TypeOf(o).Elem().Name() }
