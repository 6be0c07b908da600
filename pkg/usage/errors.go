package usage

import (
	"context"
	"errors"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IsUnavailable reports whether err, returned by a Source's Fetch, means the
// usage API is not accessible as a whole rather than one request failing:
//
//   - 404 from the API server itself ("the server could not find the
//     requested resource"): metrics.k8s.io is not registered (no
//     metrics-server, or its APIService was deleted);
//   - 404 for this node's NodeMetrics: metrics-server has no reading of this
//     node (not scraped yet, or it cannot reach this node's kubelet), so it
//     has none of its pods either;
//   - 503 ServiceUnavailable: the APIService exists but its backend is down;
//   - 401/403: this agent may not read metrics.k8s.io (RBAC);
//   - a no-match (REST mapping) error for the group.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	switch {
	case apierrors.IsNotFound(err),
		apierrors.IsServiceUnavailable(err), statusCode(err) == http.StatusServiceUnavailable,
		apierrors.IsForbidden(err), apierrors.IsUnauthorized(err),
		isNoMatch(err):
		return true
	}
	return false
}

// IsNotServed reports whether err is the API server's own 404 for a path it
// does not serve (the group is not registered), as opposed to
// metrics-server's 404 for an object it has no metrics for. The API server
// answers unserved paths with a plain-text "404 page not found", which
// client-go turns into a generic error with an UnexpectedServerResponse
// cause; metrics-server answers with a Status naming the object.
func IsNotServed(err error) bool {
	if !apierrors.IsNotFound(err) {
		return false
	}
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return true
	}
	d := se.Status().Details
	if d == nil || d.Name == "" {
		return true
	}
	for _, c := range d.Causes {
		if c.Type == metav1.CauseTypeUnexpectedServerResponse {
			return true
		}
	}
	return false
}

// reasonNotScraped: the Metrics API answers, but has no reading for this
// node (metrics-server has not scraped it since it joined or restarted).
const reasonNotScraped = "no metrics for this node yet"

// Reason is the short wire.Usage.Reason for err, the error of a failed
// Fetch. An error that knows its reason (the kubelet source's) says it
// itself, with a method UsageReason() string; any other is taken as a
// Metrics API error (see IsUnavailable).
func Reason(err error) string {
	var own interface{ UsageReason() string }
	if errors.As(err, &own) {
		return own.UsageReason()
	}
	switch {
	case IsNotServed(err), isNoMatch(err):
		return "metrics API not served"
	case apierrors.IsNotFound(err):
		return reasonNotScraped
	case apierrors.IsServiceUnavailable(err), statusCode(err) == http.StatusServiceUnavailable:
		return "metrics API unavailable"
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return "metrics API access denied"
	case errors.Is(err, context.DeadlineExceeded), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return "metrics API timed out"
	}
	return "metrics API request failed"
}

func statusCode(err error) int32 {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return se.Status().Code
	}
	return 0
}

// isNoMatch reports a REST mapping that found no match for the group,
// wrapped or not. (client-go's discovery errors are not checked: the agent
// makes no discovery call, and importing k8s.io/client-go/discovery would
// link and register every built-in API group.)
func isNoMatch(err error) bool {
	return meta.IsNoMatchError(err)
}
