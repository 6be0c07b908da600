// Package wire holds the Go types of the connector's wire protocol: the
// delta batches of catops.k8s/v1 and the legacy full-snapshot format.
// docs/protocol.md is the prose specification; the golden files in testdata/
// pin the exact bytes.
package wire

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

const (
	// Version names the delta protocol carried in every batch.
	Version = "catops.k8s/v1"
	// Path is where both wire formats are POSTed, relative to the backend URL.
	Path = "/api/cli/kubernetes/metrics"
	// ContentTypeDelta is the Content-Type of a delta batch.
	ContentTypeDelta = "application/vnd.catops.k8s.v1+json"
	// ContentTypeSnapshot is the Content-Type of a legacy snapshot.
	ContentTypeSnapshot = "application/json"
	// HeaderSession, HeaderSeq and HeaderBatchID repeat the batch identity in
	// HTTP headers so a backend can drop a duplicate without decoding it.
	HeaderSession = "X-Catops-Session"
	HeaderSeq     = "X-Catops-Seq"
	HeaderBatchID = "X-Catops-Batch-Id"
)

// Header identifies a batch. Seq increases by one with every batch a session
// sends; a new session (a restarted agent) starts at 1 with a snapshot.
type Header struct {
	Version string `json:"version"`
	// Node names a node stream's node; absent in the other streams.
	Node string `json:"node,omitempty"`
	// Host (its host name) and MachineID (its /etc/machine-id) name a
	// host stream's host; absent in the other streams.
	Host      string `json:"host,omitempty"`
	MachineID string `json:"machine_id,omitempty"`
	// Cluster (CATOPS_CLUSTER_NAME, optional) and ClusterID (the UID of
	// the kube-system namespace) name a cluster stream's cluster; Leader
	// is its sender's lease term. Absent in the node stream.
	Cluster      string    `json:"cluster,omitempty"`
	ClusterID    string    `json:"cluster_id,omitempty"`
	Leader       *Leader   `json:"leader,omitempty"`
	Namespace    string    `json:"namespace,omitempty"`
	AgentVersion string    `json:"agent_version,omitempty"`
	Session      string    `json:"session"`
	Seq          uint64    `json:"seq"`
	BatchID      string    `json:"batch_id"`
	SentAt       time.Time `json:"sent_at"`
	// Replay is true when the batch belongs to the session of an earlier
	// run of the agent, read back from its disk spool after a restart.
	Replay bool `json:"replay,omitempty"`
}

// Batch is a decoded delta batch: events are applied in order.
type Batch struct {
	Header
	Events []Event `json:"events"`
}

// RawBatch is a batch whose events are already encoded; the sender builds
// these so that every event is marshalled once, when it is queued.
type RawBatch struct {
	Header
	Events []json.RawMessage `json:"events"`
}

// EventType says which payload field of an Event is set.
type EventType string

// The event types of catops.k8s/v1.
const (
	// EventSnapshotBegin starts a resynchronisation: the receiver marks every
	// pod it holds for the node as unconfirmed.
	EventSnapshotBegin EventType = "snapshot_begin"
	// EventSnapshotEnd ends it: pods not upserted since the matching begin
	// are removed. A snapshot may span several batches.
	EventSnapshotEnd EventType = "snapshot_end"
	// EventPodUpsert carries the whole current record of one pod.
	EventPodUpsert EventType = "pod_upsert"
	// EventPodDelete says a pod is gone from the node.
	EventPodDelete EventType = "pod_delete"
	// EventNode carries the whole current record of the node object.
	EventNode EventType = "node"
	// EventHost carries one host sample.
	EventHost EventType = "host"
	// EventUsage carries fresh Metrics API readings, or says they are unknown.
	EventUsage EventType = "usage"
)

// Event is one change or sample. Exactly one payload field is set, the one
// its Type names.
type Event struct {
	Type     EventType     `json:"type"`
	Time     time.Time     `json:"time"`
	Snapshot *SnapshotMark `json:"snapshot,omitempty"`
	Pod      *Pod          `json:"pod,omitempty"`
	PodRef   *PodRef       `json:"pod_ref,omitempty"`
	Node     *Node         `json:"node,omitempty"`
	Host     *HostSample   `json:"host,omitempty"`
	Usage    *Usage        `json:"usage,omitempty"`
}

// SnapshotMark pairs a snapshot_begin with its snapshot_end.
type SnapshotMark struct {
	ID uint64 `json:"id"`
	// Reason is why the snapshot was sent: start, periodic, resync
	// (a batch was lost or the queue overflowed) or requested (HTTP 409).
	Reason string `json:"reason"`
}

// Snapshot reasons.
const (
	ReasonStart     = "start"
	ReasonPeriodic  = "periodic"
	ReasonResync    = "resync"
	ReasonRequested = "requested"
)

// Response is the optional JSON body of a backend's answer.
type Response struct {
	// Duplicate is true when the batch had already been applied.
	Duplicate bool `json:"duplicate,omitempty"`
	// Error explains a 4xx.
	Error string `json:"error,omitempty"`
}

// EncodedEvent is an event marshalled once, when it is queued; the sender
// keeps these and counts their bytes.
type EncodedEvent struct {
	Type EventType
	Data json.RawMessage
}

// Encode marshals an event for the queue.
func Encode(e Event) (EncodedEvent, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return EncodedEvent{}, fmt.Errorf("encode %s event: %w", e.Type, err)
	}
	return EncodedEvent{Type: e.Type, Data: b}, nil
}

// EncodeWith builds the encoded event {"type":t,"time":at,"<field>":payload}
// around a payload that is already JSON, without marshalling it again. It is
// byte-for-byte what Encode gives for the same event.
func EncodeWith(t EventType, at time.Time, field string, payload json.RawMessage) EncodedEvent {
	ts, _ := at.MarshalJSON() // cannot fail for a time in years 0–9999
	b := make([]byte, 0, len(payload)+len(t)+len(field)+len(ts)+32)
	b = append(b, `{"type":"`...)
	b = append(b, t...)
	b = append(b, `","time":`...)
	b = append(b, ts...)
	b = append(b, `,"`...)
	b = append(b, field...)
	b = append(b, `":`...)
	b = append(b, payload...)
	b = append(b, '}')
	return EncodedEvent{Type: t, Data: b}
}

var comma = []byte{','}

// WriteBatch writes the batch {header fields…, "events":[…]} to w, copying
// the already encoded events as they are. It is byte-for-byte what
// json.Marshal gives for the same RawBatch, without re-scanning every event.
func WriteBatch(w io.Writer, h Header, events []json.RawMessage) error {
	head, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode batch header: %w", err)
	}
	buf := make([]byte, 0, len(head)+16)
	buf = append(buf, head[:len(head)-1]...) // without the closing brace
	buf = append(buf, `,"events":[`...)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	for i, e := range events {
		if i > 0 {
			if _, err := w.Write(comma); err != nil {
				return err
			}
		}
		if _, err := w.Write(e); err != nil {
			return err
		}
	}
	_, err = w.Write([]byte("]}"))
	return err
}
