package validate

import (
	"errors"
	"fmt"
	"strconv"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ExternalSecrets are the Secrets the base refers to but does not create:
// each environment makes its own.
var ExternalSecrets = map[string]bool{"ordo-database": true}

// Check applies Ordo's rules to the built objects:
//   - every pod runs as a non-root user, with every container's resources
//     requested and no privilege escalation;
//   - every long-running container has liveness and readiness probes on a
//     port it declares;
//   - ConfigMaps and Secrets referred to exist (or are ExternalSecrets);
//   - every PodDisruptionBudget and Service selects the pods of a Deployment;
//   - the ScaledObject scales a Deployment of the build, and its
//     maxReplicaCount is at most the partition count (ORDO_PARTITIONS in the
//     ConfigMap "ordo"): a consumer beyond it would own no partition.
func Check(objs []runtime.Object) error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	configMaps := map[string]*corev1.ConfigMap{}
	deployments := map[string]*appsv1.Deployment{}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ConfigMap:
			configMaps[o.Name] = o
		case *appsv1.Deployment:
			deployments[o.Name] = o
		}
	}
	checkPod := func(what string, spec *corev1.PodSpec, longRunning bool) {
		sc := spec.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
			fail("%s: the pod must set runAsNonRoot and a runAsUser other than 0", what)
		}
		for _, c := range spec.Containers {
			where := what + " container " + c.Name
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
				fail("%s: requests no cpu or memory", where)
			}
			if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
				fail("%s: must set allowPrivilegeEscalation: false", where)
			}
			if longRunning {
				for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
					if p == nil || p.HTTPGet == nil {
						fail("%s: no HTTP %s probe", where, name)
					} else if !declaresPort(c, p.HTTPGet.Port) {
						fail("%s: %s probe on port %s, which the container does not declare", where, name, p.HTTPGet.Port.String())
					}
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
					if cm, ok := configMaps[r.Name]; !ok {
						fail("%s: env %s from ConfigMap %q, which the build lacks", where, e.Name, r.Name)
					} else if _, ok := cm.Data[r.Key]; !ok {
						fail("%s: env %s from ConfigMap %q key %q, which it lacks", where, e.Name, r.Name, r.Key)
					}
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil && !ExternalSecrets[r.Name] {
					fail("%s: env %s from Secret %q, not a known external Secret", where, e.Name, r.Name)
				}
			}
			for _, ef := range c.EnvFrom {
				if r := ef.ConfigMapRef; r != nil && configMaps[r.Name] == nil {
					fail("%s: envFrom ConfigMap %q, which the build lacks", where, r.Name)
				}
			}
		}
	}
	selectsDeployment := func(what string, sel labels.Selector) {
		for _, d := range deployments {
			if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				return
			}
		}
		fail("%s: selects the pods of no Deployment", what)
	}
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			checkPod("Deployment "+o.Name, &o.Spec.Template.Spec, true)
		case *batchv1.Job:
			checkPod("Job "+o.Name, &o.Spec.Template.Spec, false)
		case *policyv1.PodDisruptionBudget:
			sel, err := metav1.LabelSelectorAsSelector(o.Spec.Selector)
			if err != nil || sel.Empty() {
				fail("PodDisruptionBudget %s: bad or empty selector", o.Name)
				continue
			}
			selectsDeployment("PodDisruptionBudget "+o.Name, sel)
		case *corev1.Service:
			selectsDeployment("Service "+o.Name, labels.SelectorFromSet(o.Spec.Selector))
		case *kedav1alpha1.ScaledObject:
			checkScaledObject(o, deployments, configMaps, fail)
		}
	}
	return errors.Join(errs...)
}

func checkScaledObject(so *kedav1alpha1.ScaledObject, deployments map[string]*appsv1.Deployment, configMaps map[string]*corev1.ConfigMap, fail func(string, ...any)) {
	what := "ScaledObject " + so.Name
	if so.Spec.ScaleTargetRef == nil || deployments[so.Spec.ScaleTargetRef.Name] == nil {
		fail("%s: scales no Deployment of the build", what)
	}
	cm := configMaps["ordo"]
	if cm == nil {
		fail("%s: no ConfigMap \"ordo\" to read ORDO_PARTITIONS from", what)
		return
	}
	partitions, err := strconv.Atoi(cm.Data["ORDO_PARTITIONS"])
	if err != nil || partitions < 1 {
		fail("%s: ConfigMap ordo: ORDO_PARTITIONS %q is not a partition count", what, cm.Data["ORDO_PARTITIONS"])
		return
	}
	if so.Spec.MaxReplicaCount == nil || int(*so.Spec.MaxReplicaCount) > partitions {
		fail("%s: maxReplicaCount must be set and at most the partition count %d (a consumer beyond it owns no partition)", what, partitions)
	}
	if len(so.Spec.Triggers) == 0 {
		fail("%s: no triggers", what)
	}
	for _, t := range so.Spec.Triggers {
		if t.Type != "kafka" {
			continue
		}
		for _, key := range []string{"bootstrapServers", "consumerGroup", "topic", "lagThreshold"} {
			if t.Metadata[key] == "" {
				fail("%s: kafka trigger without %s", what, key)
			}
		}
	}
}

func declaresPort(c corev1.Container, port intstr.IntOrString) bool {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return true
		}
	}
	return false
}
