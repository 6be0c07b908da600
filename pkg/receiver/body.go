package receiver

import (
	"compress/gzip"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/catops/cli/pkg/wire"
)

// format is what a request body holds, told by its Content-Type.
type format int

const (
	formatDelta    format = iota // a node stream's delta batch
	formatSnapshot               // a legacy snapshot
	formatCluster                // a cluster batch
	formatHost                   // a host batch
)

// formatOf tells the format of a request to path by its Content-Type:
// wire.Path takes a delta batch or a legacy snapshot, wire.ClusterPath a
// cluster batch. Anything else is 415, and a Content-Type of the other
// path says which path it goes to.
func formatOf(req *http.Request, path string) (format, *httpError) {
	ct := req.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = ""
	}
	if path == wire.HostPath {
		if mt == wire.ContentTypeHost {
			return formatHost, nil
		}
		return 0, errorf(http.StatusUnsupportedMediaType,
			"Content-Type %q not supported: use %s (host batch)", clip(ct), wire.ContentTypeHost)
	}
	if path == wire.ClusterPath {
		switch mt {
		case wire.ContentTypeCluster:
			return formatCluster, nil
		case wire.ContentTypeDelta, wire.ContentTypeSnapshot:
			return 0, errorf(http.StatusUnsupportedMediaType,
				"Content-Type %q is the node stream's: POST it to %s; %s takes %s (cluster batch)",
				clip(ct), wire.Path, wire.ClusterPath, wire.ContentTypeCluster)
		}
		return 0, errorf(http.StatusUnsupportedMediaType,
			"Content-Type %q not supported: use %s (cluster batch)", clip(ct), wire.ContentTypeCluster)
	}
	switch mt {
	case wire.ContentTypeDelta:
		return formatDelta, nil
	case wire.ContentTypeSnapshot:
		return formatSnapshot, nil
	case wire.ContentTypeCluster, wire.ContentTypeHost:
		other := wire.ClusterPath
		if mt == wire.ContentTypeHost {
			other = wire.HostPath
		}
		return 0, errorf(http.StatusUnsupportedMediaType,
			"Content-Type %q is another stream's: POST it to %s; %s takes %s (delta batch) or %s (legacy snapshot)",
			clip(ct), other, wire.Path, wire.ContentTypeDelta, wire.ContentTypeSnapshot)
	}
	return 0, errorf(http.StatusUnsupportedMediaType,
		"Content-Type %q not supported: use %s (delta batch) or %s (legacy snapshot)",
		clip(ct), wire.ContentTypeDelta, wire.ContentTypeSnapshot)
}

// readBody reads the request body, gunzipping it when Content-Encoding is
// gzip. It returns the decoded body and the bytes read off the wire. A
// decoded body over r.maxBody is 413; so is a raw body that could not
// decode to at most r.maxBody (gzip adds well under 1/1024 plus a header
// to incompressible data), which bounds the read of a stream of empty gzip
// members.
func (r *Receiver) readBody(req *http.Request) ([]byte, int64, *httpError) {
	rawLimit := r.maxBody + r.maxBody/1024 + 64
	cr := &countingReader{r: io.LimitReader(req.Body, rawLimit+1)}
	var src io.Reader = cr
	switch enc := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(cr)
		if err != nil {
			return nil, cr.n, errorf(http.StatusBadRequest, "body: invalid gzip: %v", err)
		}
		defer func() { _ = zr.Close() }()
		src = zr
	default:
		return nil, 0, errorf(http.StatusUnsupportedMediaType, "Content-Encoding %q not supported: use gzip or none", clip(enc))
	}
	body, err := io.ReadAll(io.LimitReader(src, r.maxBody+1))
	switch {
	case int64(len(body)) > r.maxBody || cr.n > rawLimit:
		return nil, cr.n, errorf(http.StatusRequestEntityTooLarge, "body: larger than the limit of %d bytes (decompressed)", r.maxBody)
	case err != nil:
		return nil, cr.n, errorf(http.StatusBadRequest, "body: %v", err)
	}
	return body, cr.n, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
