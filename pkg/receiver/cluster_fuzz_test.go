package receiver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/wire"
)

// FuzzHandleClusterBatch is FuzzHandleBatch for the cluster stream: it
// feeds arbitrary bodies to wire.ClusterPath of a receiver that already
// holds a cluster (leader epoch 3, a snapshot in progress), plain, gzipped
// or raw as if gzipped, and asserts that the receiver does not panic,
// answers 2xx or 4xx with a JSON wire.Response, and that a 4xx (a
// superseded 409 included) leaves the cluster's state exactly as it was
// and creates none.
func FuzzHandleClusterBatch(f *testing.F) {
	seed := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	l := leader("rep-a", 3)
	for _, b := range [][]byte{
		seed(cbatch(l, "s1", 2, workload("Deployment", "shop", "web", 0, 2), workloadDelete("Job", "shop", "migrate"))),
		seed(cbatch(l, "s1", 1, pendingPod("shop", "web-x", "Unschedulable"))),
		seed(cbatch(l, "s1", 5, namespaceEvent("shop"), cend(2))),
		seed(cbatch(l, "s1", 2, cend(2), pendingPodDelete("shop", "web-x"), namespaceDelete("old"))),
		seed(cbatch(l, "s3", 1, cbegin(1), workload("StatefulSet", "shop", "db", 1, 1), cend(1))),
		seed(cbatch(leader("rep-b", 4), "s4", 1, cbegin(1), cend(1), summary("v1.35.0", 1, 2))),
		seed(cbatch(leader("rep-z", 2), "s5", 1, cbegin(1), cend(1))),
		seed(cbatch(l, "s1", 2, warning("w1", "BackOff", "web-0", 3, testNow), summary("v1.35.0", 2, 2))),
		seed(batch("n1", "s1", 2, upsert("default", "b", "Running"))),
		[]byte(`{"version":"catops.k8s-cluster/v1","leader":{"identity":"a","lease":"b","epoch":3,"lease_duration_seconds":15},"session":"s1","seq":2,"batch_id":"x","events":[{"type":"workload","workload":null}]}`),
		[]byte(`{"version":"catops.k8s-cluster/v1","leader":null,"events":[{"type":"warning","warning":{}}]}`),
		[]byte(`null`),
		[]byte(``),
		[]byte("\x1f\x8b\x08\x00"),
	} {
		f.Add(b, encPlain)
		f.Add(b, encGzip)
	}
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"), encRawGzip)

	start := seed(cbatch(l, "s1", 1, cbegin(1), namespaceEvent("shop"), namespaceEvent("old"),
		workload("Deployment", "shop", "web", 1, 2), workload("Job", "shop", "migrate", 0, 1), pendingPod("shop", "web-x", "Unschedulable"),
		cend(1), summary("v1.35.0", 2, 2), warning("w1", "BackOff", "web-0", 1, testNow), cbegin(2)))

	f.Fuzz(func(t *testing.T, body []byte, enc uint8) {
		now := time.Now()
		r, err := New(Options{Token: testToken, Logger: zap.NewNop(), MaxBodyBytes: 1 << 16, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		h := r.Handler()
		post := func(body []byte, enc uint8) *httptest.ResponseRecorder {
			if enc%3 == encGzip {
				body = gzipPooled(body)
			}
			req := httptest.NewRequest(http.MethodPost, wire.ClusterPath, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", wire.ContentTypeCluster)
			if enc%3 != encPlain {
				req.Header.Set("Content-Encoding", "gzip")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec
		}
		if rec := post(start, encPlain); rec.Code != http.StatusOK {
			t.Fatalf("start batch: %d %s", rec.Code, rec.Body.String())
		}
		before, _ := r.Cluster(testClusterID)

		rec := post(body, enc)
		if rec.Code < 200 || rec.Code >= 500 || (rec.Code >= 300 && rec.Code < 400) {
			t.Fatalf("status %d, want 2xx or 4xx; body %s", rec.Code, rec.Body.String())
		}
		var resp wire.Response
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
			t.Fatalf("answer is not a wire.Response: %v: %q", err, rec.Body.String())
		}
		if rec.Code >= 400 {
			if resp.Error == "" {
				t.Fatalf("status %d without an error message", rec.Code)
			}
			after, _ := r.Cluster(testClusterID)
			after.Counters = before.Counters
			if !equalJSON(t, before, after) {
				t.Fatalf("a %d changed the state:\nbefore %+v\nafter  %+v", rec.Code, before, after)
			}
			if len(r.Clusters()) != 1 || len(r.Nodes()) != 0 {
				t.Fatalf("a %d created state: clusters %v, nodes %v", rec.Code, r.Clusters(), r.Nodes())
			}
		}
		req := httptest.NewRequest(http.MethodGet, StatePath, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		srec := httptest.NewRecorder()
		h.ServeHTTP(srec, req)
		if srec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", StatePath, srec.Code, srec.Body.String())
		}
	})
}
