package legacy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/wire"
)

// result is what one attempt produced.
type result struct {
	token      string // the token the attempt used ("" when unreadable); never logged
	status     int    // HTTP status; 0 when no answer came
	failure    string // why no answer came (failure* in outcomes.go), or ""
	retryAfter time.Duration
	location   string // a redirect's target
	err        error
	bytes      int
}

// post makes one attempt to deliver body.
func (p *Poster) post(ctx context.Context, body []byte) result {
	token, err := p.opts.Token()
	if err != nil {
		return result{failure: failureToken, err: fmt.Errorf("read auth token: %w", err)}
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, p.opts.RequestTimeout)
	defer cancel()
	req, err := p.request(ctx, token, body)
	if err != nil {
		return result{failure: failureEncode, err: err, token: token}
	}
	start := time.Now()
	resp, err := p.opts.Client.Do(req)
	if err != nil {
		if parent.Err() != nil {
			return result{failure: failureInterrupted, err: err}
		}
		p.opts.Metrics.BackendRequestDuration.WithLabelValues(telemetry.CodeClass(0)).Observe(time.Since(start).Seconds())
		return result{failure: failureNetwork, err: err}
	}
	defer resp.Body.Close()
	res := result{status: resp.StatusCode, bytes: len(body), token: token}
	msg := responseError(resp.Body)
	p.opts.Metrics.BackendRequestDuration.WithLabelValues(telemetry.CodeClass(resp.StatusCode)).Observe(time.Since(start).Seconds())
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return res
	}
	res.retryAfter = retryAfter(resp.Header.Get("Retry-After"), p.opts.Now())
	res.location = resp.Header.Get("Location")
	who := "backend"
	if resp.StatusCode == http.StatusProxyAuthRequired {
		who = "a proxy" // only proxies answer 407
	}
	res.err = fmt.Errorf("%s answered %s: %s", who, resp.Status, msg)
	return res
}

// request builds the POST of body: plain JSON, with the headers of
// docs/protocol.md §2.1's legacy column.
func (p *Poster) request(ctx context.Context, token string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", wire.ContentTypeSnapshot)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "catops-k8s/"+p.opts.AgentVersion)
	return req, nil
}

// tokenChangedFrom returns the condition that ends the long wait after the
// backend refused token (or it could not be read, token ""): the token
// source now gives another one.
func (p *Poster) tokenChangedFrom(token string) func() bool {
	return func() bool {
		t, err := p.opts.Token()
		if err != nil || t == token {
			return false
		}
		p.opts.Logger.Info("Auth token changed; retrying now")
		return true
	}
}

// responseError reads the backend's one-line explanation, if any.
func responseError(r io.Reader) string {
	raw, _ := io.ReadAll(io.LimitReader(r, 4<<10))
	var resp wire.Response
	if json.Unmarshal(raw, &resp) == nil && resp.Error != "" {
		return resp.Error
	}
	text := strings.TrimSpace(strings.ReplaceAll(string(raw), "\n", " "))
	if len(text) > 300 {
		text = text[:300] + "…"
	}
	return text
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// pauseUntil waits for d, or until ctx ends (false), or, checked every
// poll, until until() holds; a nil until waits the whole d.
func pauseUntil(ctx context.Context, d, poll time.Duration, until func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		step := time.Until(deadline)
		if until != nil {
			step = min(step, poll)
		}
		if step <= 0 {
			return true
		}
		t := time.NewTimer(step)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		if until != nil && until() {
			return true
		}
	}
}
