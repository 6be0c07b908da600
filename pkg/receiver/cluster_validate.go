package receiver

import (
	"errors"
	"fmt"

	"github.com/catops/cli/pkg/wire"
)

// validateClusterBatch checks a decoded cluster batch before anything of it
// is applied, as validateBatch checks a node's: version, leader, session,
// batch_id, seq, then every event. known, when not nil, restricts the
// event types accepted. The error is one line naming the field that is
// wrong ("events[3].workload.kind: must not be empty").
func validateClusterBatch(b *wire.ClusterBatch, known map[wire.EventType]bool) error {
	switch {
	case b.Version != wire.ClusterVersion:
		return fmt.Errorf("version: want %q, got %q", wire.ClusterVersion, clip(b.Version))
	case b.Leader == nil:
		return errors.New("leader: must be set")
	case b.Leader.Identity == "":
		return errors.New("leader.identity: must not be empty")
	case b.Leader.Lease == "":
		return errors.New("leader.lease: must not be empty")
	case b.Leader.Epoch < 0:
		return fmt.Errorf("leader.epoch: must not be negative, got %d", b.Leader.Epoch)
	case b.Leader.LeaseDurationSeconds < 1:
		// Fencing waits twice the lease duration: without one, it would
		// not fence at all.
		return fmt.Errorf("leader.lease_duration_seconds: must be at least 1, got %d", b.Leader.LeaseDurationSeconds)
	}
	if err := validateSequence(&b.Header); err != nil {
		return err
	}
	for i := range b.Events {
		if err := validateKnown(i, b.Events[i].Type, known); err != nil {
			return err
		}
		if err := validateClusterEvent(&b.Events[i]); err != nil {
			return fmt.Errorf("events[%d]%w", i, err)
		}
	}
	return nil
}

// clusterPayloadField names the one payload field each event type of the
// cluster stream carries.
var clusterPayloadField = map[wire.EventType]string{
	wire.EventSnapshotBegin:    "snapshot",
	wire.EventSnapshotEnd:      "snapshot",
	wire.EventWorkload:         "workload",
	wire.EventWorkloadDelete:   "workload_ref",
	wire.EventPendingPod:       "pending_pod",
	wire.EventPendingPodDelete: "pod_ref",
	wire.EventNamespace:        "namespace",
	wire.EventNamespaceDelete:  "namespace_ref",
	wire.EventWarning:          "warning",
	wire.EventClusterSummary:   "cluster",
}

// validateClusterEvent returns an error that starts with the field path
// below the event, like validateEvent.
func validateClusterEvent(e *wire.ClusterEvent) error {
	if err := validatePayload(e.Type, clusterPayloadField, setClusterPayloads(e)); err != nil {
		return err
	}
	switch e.Type {
	case wire.EventWorkload:
		return required(".workload", "kind", e.Workload.Kind, "name", e.Workload.Name)
	case wire.EventWorkloadDelete:
		return required(".workload_ref", "kind", e.WorkloadRef.Kind, "name", e.WorkloadRef.Name)
	case wire.EventPendingPod:
		return validateRef(".pending_pod", e.PendingPod.Namespace, e.PendingPod.Name)
	case wire.EventPendingPodDelete:
		return validateRef(".pod_ref", e.PodRef.Namespace, e.PodRef.Name)
	case wire.EventNamespace:
		return required(".namespace", "name", e.Namespace.Name)
	case wire.EventNamespaceDelete:
		return required(".namespace_ref", "name", e.NamespaceRef.Name)
	case wire.EventWarning:
		// The API server takes a core/v1 Event without a reason: the
		// reporter passes it on as it is.
		return required(".warning", "uid", e.Warning.UID)
	}
	return nil
}

func setClusterPayloads(e *wire.ClusterEvent) []string {
	var set []string
	for _, p := range []struct {
		field string
		set   bool
	}{
		{"snapshot", e.Snapshot != nil},
		{"workload", e.Workload != nil},
		{"workload_ref", e.WorkloadRef != nil},
		{"pending_pod", e.PendingPod != nil},
		{"pod_ref", e.PodRef != nil},
		{"namespace", e.Namespace != nil},
		{"namespace_ref", e.NamespaceRef != nil},
		{"warning", e.Warning != nil},
		{"cluster", e.Cluster != nil},
	} {
		if p.set {
			set = append(set, p.field)
		}
	}
	return set
}

// required checks that the named fields below path are not empty: it takes
// name and value pairs and names the first empty one.
func required(path string, nameValues ...string) error {
	for i := 0; i+1 < len(nameValues); i += 2 {
		if nameValues[i+1] == "" {
			return fmt.Errorf("%s.%s: must not be empty", path, nameValues[i])
		}
	}
	return nil
}
