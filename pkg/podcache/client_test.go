package podcache

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// TestClientListsCoreV1InProtobuf: the REST client asks for core/v1 pods
// across namespaces with the informer's options, prefers protobuf, and
// decodes the answer.
func TestClientListsCoreV1InProtobuf(t *testing.T) {
	scheme := runtime.NewScheme()
	require.NoError(t, corev1.AddToScheme(scheme))
	pb := protobuf.NewSerializer(scheme, scheme)
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		list := &corev1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"},
			ListMeta: metav1.ListMeta{ResourceVersion: "7"},
			Items:    []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"}}}}
		w.Header().Set("Content-Type", runtime.ContentTypeProtobuf)
		require.NoError(t, pb.Encode(list, w))
	}))
	t.Cleanup(srv.Close)

	c, err := NewClient(&rest.Config{Host: srv.URL, UserAgent: "catops-k8s/test"})
	require.NoError(t, err)
	lw := cache.ToListerWatcherWithContext(c.ListWatch("pods", func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", "node-a").String()
	}))
	obj, err := lw.ListWithContext(context.Background(), metav1.ListOptions{ResourceVersion: "0"})
	require.NoError(t, err)
	list, ok := obj.(*corev1.PodList)
	require.True(t, ok, "%T", obj)
	require.Len(t, list.Items, 1)
	assert.Equal(t, "a", list.Items[0].Name)
	assert.Equal(t, "7", list.ResourceVersion)

	require.NotNil(t, got)
	assert.Equal(t, "/api/v1/pods", got.URL.Path)
	assert.Equal(t, "spec.nodeName=node-a", got.URL.Query().Get("fieldSelector"))
	assert.Equal(t, "0", got.URL.Query().Get("resourceVersion"))
	assert.True(t, strings.HasPrefix(got.Header.Get("Accept"), runtime.ContentTypeProtobuf), got.Header.Get("Accept"))
	assert.Equal(t, "catops-k8s/test", got.Header.Get("User-Agent"))
}
