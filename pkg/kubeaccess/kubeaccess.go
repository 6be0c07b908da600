// Package kubeaccess finds the Kubernetes API access a command uses: an
// explicit kubeconfig, else the in-cluster config inside a pod, else
// ~/.kube/config.
package kubeaccess

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Access is the Kubernetes access found and how.
type Access struct {
	Config *rest.Config
	Mode   string // "kubeconfig" or "in-cluster"
}

// Find picks the access: the kubeconfig at path when set (KUBECONFIG or
// --kubeconfig), else the in-cluster config when getenv says the process
// runs in a pod, else ~/.kube/config. It reads files only: whether the API
// server answers is found out later. Its errors are one line that says
// what to set.
func Find(path string, getenv func(string) string) (Access, error) {
	if path != "" {
		c, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return Access{}, fmt.Errorf("load kubeconfig %q (KUBECONFIG / --kubeconfig): %w", path, err)
		}
		return Access{c, "kubeconfig"}, nil
	}
	if getenv("KUBERNETES_SERVICE_HOST") != "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return Access{}, fmt.Errorf("in-cluster config (the pod's ServiceAccount token; is automountServiceAccountToken off?): %w", err)
		}
		return Access{c, "in-cluster"}, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return Access{}, fmt.Errorf("not in a pod and no usable kubeconfig (set KUBECONFIG or --kubeconfig): %w", err)
	}
	return Access{c, "kubeconfig"}, nil
}
