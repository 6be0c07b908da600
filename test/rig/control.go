package rig

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"time"
)

// StopAPIServer stops kube-apiserver (SIGTERM; SIGKILL after 3 s, because
// its graceful shutdown keeps open watch connections draining for 20 s or
// more), keeping etcd and everything else running. Every client connection,
// watches included, is broken when it returns; clients see "connection
// refused" until StartAPIServer. Counters in /metrics start from zero after a
// restart.
func (c *Cluster) StopAPIServer() error {
	c.mu.Lock()
	p := c.procs[CompAPIServer]
	c.mu.Unlock()
	if p == nil {
		return fmt.Errorf("rig: %s never started", CompAPIServer)
	}
	t0 := time.Now()
	if err := p.stop(stopGrace(CompAPIServer)); err != nil {
		return err
	}
	c.httpc.CloseIdleConnections()
	c.logf("rig: %s stopped in %.1fs", CompAPIServer, time.Since(t0).Seconds())
	return nil
}

// StartAPIServer starts kube-apiserver again on the same port with the same
// flags and data, and waits until it is ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	if c.Running(CompAPIServer) {
		return fmt.Errorf("rig: %s is already running", CompAPIServer)
	}
	return c.startAndWait(ctx, CompAPIServer, c.apiServerArgs(), 90*time.Second, c.apiServerReady)
}

// RestartAPIServer stops and starts kube-apiserver, keeping etcd: every
// watch of every client breaks, and the new server has a fresh watch cache.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	if err := c.StopAPIServer(); err != nil {
		return err
	}
	return c.StartAPIServer(ctx)
}

// etcdPost calls etcd's JSON gateway (the v3 API over HTTP).
func (c *Cluster) etcdPost(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.EtcdURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.healthc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: HTTP %d: %s", path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// EtcdRevision returns etcd's current revision.
func (c *Cluster) EtcdRevision(ctx context.Context) (int64, error) {
	var out struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	// A range over a key that does not exist still answers with the header.
	err := c.etcdPost(ctx, "/v3/kv/range", map[string]any{
		"key":        base64.StdEncoding.EncodeToString([]byte("/rig-revision-probe")),
		"count_only": true,
	}, &out)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(out.Header.Revision, 10, 64)
}

// CompactEtcd compacts etcd's history up to its current revision (and waits
// for the physical compaction), so any watch or list from an older
// resourceVersion fails with "410 Gone / too old resource version" once the
// API server's watch cache no longer has it. Returns the revision.
func (c *Cluster) CompactEtcd(ctx context.Context) (int64, error) {
	rev, err := c.EtcdRevision(ctx)
	if err != nil {
		return 0, err
	}
	err = c.etcdPost(ctx, "/v3/kv/compaction", map[string]any{
		"revision": strconv.FormatInt(rev, 10),
		"physical": true,
	}, nil)
	if err != nil {
		return 0, err
	}
	c.logf("rig: etcd compacted at revision %d", rev)
	return rev, nil
}

// Kubectl runs the rig's kubectl with the admin kubeconfig and returns its
// combined output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	bin, err := binaryIn(c.binDir, BinKubectl)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("kubectl %v: %w: %s", args, err, out)
	}
	return out, nil
}
