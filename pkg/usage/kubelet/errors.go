package kubelet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"
)

// kubeletError is a failed kubelet read: a one-line message that says what
// to fix, and the short wire.Usage.Reason (see usage.Reason).
type kubeletError struct {
	reason string
	msg    string
	err    error
	status int // the kubelet's HTTP status, when it answered one but 200
}

func (e *kubeletError) Error() string       { return e.msg }
func (e *kubeletError) Unwrap() error       { return e.err }
func (e *kubeletError) UsageReason() string { return e.reason }

// statusError explains a kubelet answer other than 200 to a GET of u,
// whose access needs RBAC get on nodes/<subresource> ("metrics" for the
// resource metrics, "stats" for the summary).
func statusError(u string, code int, subresource string) error {
	e := &kubeletError{reason: "kubelet request failed", status: code}
	switch code {
	case http.StatusUnauthorized:
		e.reason = "kubelet access denied"
		e.msg = fmt.Sprintf("the kubelet at %s did not accept the agent's credentials (HTTP 401): the kubelet must authenticate ServiceAccount tokens (authentication.webhook.enabled), and the agent needs RBAC get on nodes/%s", u, subresource)
	case http.StatusForbidden:
		e.reason = "kubelet access denied"
		e.msg = fmt.Sprintf("the kubelet at %s denied access (HTTP 403): grant the agent's ServiceAccount get on nodes/%s (apiGroups [\"\"], resources [nodes/%s], verbs [get]; nodes/proxy is not needed)", u, subresource, subresource)
	case http.StatusNotFound:
		if subresource == "stats" {
			e.msg = fmt.Sprintf("the kubelet at %s has no summary there (HTTP 404): set CATOPS_KUBELET_SUMMARY=false for a kubelet without the Summary API", u)
		} else {
			e.msg = fmt.Sprintf("the kubelet at %s has no resource metrics there (HTTP 404): check CATOPS_KUBELET_URL or the Node's %s annotation", u, ResourceMetricsPathAnnotation)
		}
	default:
		e.msg = fmt.Sprintf("the kubelet at %s answered HTTP %d", u, code)
	}
	return e
}

// tooLargeError is an answer from u longer than limit bytes: it is not
// read further, and nothing of it is used (a cut answer would look whole).
func tooLargeError(u string, limit int64) error {
	size := fmt.Sprintf("%d bytes", limit)
	if limit >= 1<<20 && limit%(1<<20) == 0 {
		size = fmt.Sprintf("%d MiB", limit>>20)
	}
	return &kubeletError{reason: "kubelet answer too large",
		msg: fmt.Sprintf("the kubelet at %s answered more than %s, more than any real node writes there: check CATOPS_KUBELET_URL", u, size)}
}

// transportError turns a failed request into a line that says what to fix.
func transportError(u string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	e := &kubeletError{err: err}
	var timeout interface{ Timeout() bool }
	notTLS, tlsErr := tlsProblem(err)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &timeout) && timeout.Timeout()):
		e.reason = "kubelet timed out"
		e.msg = fmt.Sprintf("the kubelet at %s did not answer in time", u)
	case notTLS:
		e.reason = "kubelet unreachable"
		e.msg = fmt.Sprintf("the kubelet at %s does not speak TLS there: check CATOPS_KUBELET_URL or the Node's kubelet port (the kubelet's secure port, 10250 by default)", u)
	case tlsErr != "":
		e.reason = "kubelet TLS verification failed"
		e.msg = fmt.Sprintf("cannot verify the kubelet at %s (%s): set CATOPS_KUBELET_CA_FILE to the CA that signed the kubelet's serving certificate, or CATOPS_KUBELET_INSECURE_SKIP_VERIFY=true to skip verification", u, tlsErr)
	case errors.Is(err, syscall.ECONNREFUSED):
		e.reason = "kubelet unreachable"
		e.msg = fmt.Sprintf("cannot connect to the kubelet at %s (connection refused): check the Node's InternalIP and kubelet port, or set CATOPS_KUBELET_URL", u)
	default:
		e.reason = "kubelet unreachable"
		e.msg = fmt.Sprintf("cannot reach the kubelet at %s (%s): check the Node's InternalIP and kubelet port, or set CATOPS_KUBELET_URL", u, oneLine(err))
	}
	return e
}

// tlsProblem reports whether the peer does not speak TLS at all, or else
// why its certificate was not trusted ("" if that is not the problem).
func tlsProblem(err error) (notTLS bool, why string) {
	var (
		header  tls.RecordHeaderError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		verify  *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &header),
		// net/http's words for a RecordHeaderError that looks like HTTP.
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return true, ""
	case errors.As(err, &unknown):
		return false, "certificate signed by an unknown authority"
	case errors.As(err, &host):
		return false, oneLine(host)
	case errors.As(err, &invalid):
		return false, oneLine(invalid)
	case errors.As(err, &verify):
		return false, oneLine(verify)
	}
	return false, ""
}

// oneLine keeps an error's text on one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
