// Package chart tests the Helm chart charts/catops by driving the pinned
// helm binary (.cache/bin/helm, built by `hack/build-tools.sh helm`): the
// plain tests render it with `helm template` and check what a user would
// get; the tests with the build tag integration install it on the rig's
// real control plane. Helm's Go SDK is deliberately not a dependency of the
// product's module.
package chart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/catops/cli/test/rig"
)

const (
	release   = "catops"
	namespace = "catops-system"
)

// helmBin returns the pinned helm, or skips the test with how to build it.
func helmBin(t testing.TB) string {
	t.Helper()
	bin, err := rig.Binary(rig.BinHelm)
	if err != nil {
		t.Skipf("chart tests need the pinned helm: %v (build only helm with `hack/build-tools.sh helm`)", err)
	}
	return bin
}

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := rig.RepoRoot()
	require.NoError(t, err)
	return root
}

func chartDir(t testing.TB) string { return filepath.Join(repoRoot(t), "charts", "catops") }

// runHelm runs helm with args and returns stdout; err carries stderr.
func runHelm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// template renders the chart as release "catops" in "catops-system".
func template(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return runHelm(t, append([]string{"template", release, chartDir(t), "--namespace", namespace}, args...)...)
}

// rendered is the chart's output, decoded strictly into typed objects (an
// unknown or duplicated field fails the decoding). The node agents' objects
// are in the top-level fields, the cluster reporter's (labelled
// app.kubernetes.io/component=cluster-reporter) in reporter.
type rendered struct {
	kinds              []string // "Kind/name", in order
	daemonSet          *appsv1.DaemonSet
	serviceAccount     *corev1.ServiceAccount
	secret             *corev1.Secret
	clusterRole        *rbacv1.ClusterRole
	clusterRoleBinding *rbacv1.ClusterRoleBinding
	reporter           reporterObjects
}

// reporterObjects are the cluster reporter's objects; all nil when
// cluster.enabled is false.
type reporterObjects struct {
	deployment         *appsv1.Deployment
	serviceAccount     *corev1.ServiceAccount
	clusterRole        *rbacv1.ClusterRole
	clusterRoleBinding *rbacv1.ClusterRoleBinding
	role               *rbacv1.Role
	roleBinding        *rbacv1.RoleBinding
}

// reporterComponent is the app.kubernetes.io/component label of the cluster
// reporter's objects.
const reporterComponent = "cluster-reporter"

// render renders the chart and decodes it; rendering must succeed.
func render(t testing.TB, args ...string) *rendered {
	t.Helper()
	out, err := template(t, args...)
	require.NoError(t, err)
	return decode(t, out)
}

var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

func decode(t testing.TB, out string) *rendered {
	t.Helper()
	r := &rendered{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if js, err := utilyaml.ToJSON(doc); err == nil && string(bytes.TrimSpace(js)) == "null" {
			continue // only comments
		}
		obj, gvk, err := strictDecoder.Decode(doc, nil, nil)
		require.NoError(t, err, "decoding (strict):\n%s", doc)
		meta := obj.(interface {
			GetName() string
			GetLabels() map[string]string
		})
		name := meta.GetName()
		r.kinds = append(r.kinds, gvk.Kind+"/"+name)
		if meta.GetLabels()["app.kubernetes.io/component"] == reporterComponent {
			r.reporter.add(t, obj, gvk.Kind, name)
			continue
		}
		switch o := obj.(type) {
		case *appsv1.DaemonSet:
			require.Nil(t, r.daemonSet, "two DaemonSets")
			r.daemonSet = o
		case *corev1.ServiceAccount:
			require.Nil(t, r.serviceAccount, "two ServiceAccounts")
			r.serviceAccount = o
		case *corev1.Secret:
			require.Nil(t, r.secret, "two Secrets")
			r.secret = o
		case *rbacv1.ClusterRole:
			require.Nil(t, r.clusterRole, "two ClusterRoles")
			r.clusterRole = o
		case *rbacv1.ClusterRoleBinding:
			require.Nil(t, r.clusterRoleBinding, "two ClusterRoleBindings")
			r.clusterRoleBinding = o
		default:
			t.Fatalf("the chart renders a %s (%s): it should render only a DaemonSet, ServiceAccount, Secret, ClusterRole and ClusterRoleBinding for the agents (and the cluster reporter's objects, labelled app.kubernetes.io/component=%s)", gvk.Kind, name, reporterComponent)
		}
	}
	require.NotNil(t, r.daemonSet, "no DaemonSet rendered")
	return r
}

func (ro *reporterObjects) add(t testing.TB, obj any, kind, name string) {
	t.Helper()
	switch o := obj.(type) {
	case *appsv1.Deployment:
		require.Nil(t, ro.deployment, "two reporter Deployments")
		ro.deployment = o
	case *corev1.ServiceAccount:
		require.Nil(t, ro.serviceAccount, "two reporter ServiceAccounts")
		ro.serviceAccount = o
	case *rbacv1.ClusterRole:
		require.Nil(t, ro.clusterRole, "two reporter ClusterRoles")
		ro.clusterRole = o
	case *rbacv1.ClusterRoleBinding:
		require.Nil(t, ro.clusterRoleBinding, "two reporter ClusterRoleBindings")
		ro.clusterRoleBinding = o
	case *rbacv1.Role:
		require.Nil(t, ro.role, "two reporter Roles")
		ro.role = o
	case *rbacv1.RoleBinding:
		require.Nil(t, ro.roleBinding, "two reporter RoleBindings")
		ro.roleBinding = o
	default:
		t.Fatalf("the chart renders a %s (%s) for the cluster reporter: it should render only a Deployment, ServiceAccount, ClusterRole, ClusterRoleBinding, Role and RoleBinding", kind, name)
	}
}

// reporterPod is the cluster reporter's pod spec; the Deployment must be
// rendered.
func (r *rendered) reporterPod(t testing.TB) *corev1.PodSpec {
	t.Helper()
	require.NotNil(t, r.reporter.deployment, "no cluster reporter Deployment rendered")
	return &r.reporter.deployment.Spec.Template.Spec
}

// reporterContainer is the cluster reporter's one container.
func (r *rendered) reporterContainer(t testing.TB) *corev1.Container {
	t.Helper()
	pod := r.reporterPod(t)
	require.Len(t, pod.Containers, 1)
	return &pod.Containers[0]
}

// reporterEnv is the cluster reporter's environment, as env gives the
// agent's.
func (r *rendered) reporterEnv(t testing.TB) map[string]string {
	t.Helper()
	return containerEnv(t, r.reporterContainer(t))
}

func (r *rendered) pod() *corev1.PodSpec { return &r.daemonSet.Spec.Template.Spec }

func (r *rendered) container(t testing.TB) *corev1.Container {
	t.Helper()
	require.Len(t, r.pod().Containers, 1)
	return &r.pod().Containers[0]
}

// env returns the container's environment by name (values; valueFrom as
// "fieldRef:<path>" or "resourceFieldRef:<resource>"), failing on
// duplicates.
func (r *rendered) env(t testing.TB) map[string]string {
	t.Helper()
	return containerEnv(t, r.container(t))
}

// containerEnv is c's environment as env describes it.
func containerEnv(t testing.TB, c *corev1.Container) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, e := range c.Env {
		_, dup := m[e.Name]
		require.False(t, dup, "env %s set twice", e.Name)
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			m[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
		case e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil:
			m[e.Name] = "resourceFieldRef:" + e.ValueFrom.ResourceFieldRef.Resource
		case e.ValueFrom != nil:
			m[e.Name] = "valueFrom"
		default:
			m[e.Name] = e.Value
		}
	}
	return m
}

func (r *rendered) mounts(t testing.TB) map[string]corev1.VolumeMount {
	t.Helper()
	m := map[string]corev1.VolumeMount{}
	for _, vm := range r.container(t).VolumeMounts {
		m[vm.Name] = vm
	}
	return m
}

func (r *rendered) volumes() map[string]corev1.Volume {
	m := map[string]corev1.Volume{}
	for _, v := range r.pod().Volumes {
		m[v.Name] = v
	}
	return m
}
