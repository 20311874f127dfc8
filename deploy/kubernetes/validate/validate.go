// Package validate checks Ordo's Kubernetes manifests without a cluster and
// without the internet: it builds deploy/kubernetes/base with kustomize's
// own library (krusty, what `kubectl apply -k` runs), then decodes every
// object strictly into its Go API type (k8s.io/api for the built-in kinds,
// KEDA's API types for the ScaledObject): a misspelt or misplaced field, a
// value of the wrong type, a duplicate field and a kind it does not know all
// fail. Then it checks what a schema cannot: cross references and Ordo's
// own rules (Check).
//
// It is a module of its own so that Ordo's go.mod does not carry
// Kubernetes' dependencies. Run it with `make test-k8s`.
package validate

import (
	"errors"
	"fmt"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Build runs kustomize on dir and decodes each object it yields strictly
// into its API type.
func Build(dir string) ([]runtime.Object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme, kedav1alpha1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	// Strict: unknown and duplicate fields are errors, not dropped.
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	var objs []runtime.Object
	var errs []error
	for _, r := range resources.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		obj, _, err := decoder.Decode(data, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err))
			continue
		}
		objs = append(objs, obj)
	}
	return objs, errors.Join(errs...)
}
