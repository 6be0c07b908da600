package clientgo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// Requests made through client-go's REST client show up as
// rest_client_requests_total and rest_client_request_duration_seconds on
// the registry given last.
func TestRegisterCountsRESTRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Success"}`))
	}))
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	Register(reg)
	rc, err := rest.RESTClientFor(&rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{
		GroupVersion: &schema.GroupVersion{Version: "v1"}, NegotiatedSerializer: scheme.Codecs.WithoutConversion()}, APIPath: "/api"})
	require.NoError(t, err)
	require.NoError(t, rc.Get().AbsPath("/version").Do(context.Background()).Error())
	host := strings.TrimPrefix(srv.URL, "http://")
	assert.Equal(t, 1, testutil.CollectAndCount(reg, "rest_client_requests_total"))
	body, err := testutil.GatherAndCount(reg, "rest_client_request_duration_seconds")
	require.NoError(t, err)
	assert.Equal(t, 1, body)
	fams, err := reg.Gather()
	require.NoError(t, err)
	var labels map[string]string
	for _, f := range fams {
		if f.GetName() == "rest_client_requests_total" {
			labels = map[string]string{}
			for _, l := range f.GetMetric()[0].GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			assert.Equal(t, 1.0, f.GetMetric()[0].GetCounter().GetValue())
		}
	}
	assert.Equal(t, map[string]string{"code": "200", "method": "GET", "host": host}, labels)
}
