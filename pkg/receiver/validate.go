package receiver

import (
	"errors"
	"fmt"
	"strings"

	"github.com/catops/cli/pkg/wire"
)

// validateBatch checks a decoded delta batch before anything of it is
// applied. known, when not nil, restricts the event types accepted. The
// error is one line naming the field that is wrong, and is sent to the
// agent as wire.Response.Error.
func validateBatch(b *wire.Batch, known map[wire.EventType]bool) error {
	switch {
	case b.Version != wire.Version:
		return fmt.Errorf("version: want %q, got %q", wire.Version, clip(b.Version))
	case b.Node == "":
		return errors.New("node: must not be empty")
	}
	if err := validateSequence(&b.Header); err != nil {
		return err
	}
	for i := range b.Events {
		if err := validateKnown(i, b.Events[i].Type, known); err != nil {
			return err
		}
		if err := validateEvent(&b.Events[i]); err != nil {
			return fmt.Errorf("events[%d]%w", i, err)
		}
	}
	return nil
}

// validateSequence checks the fields of a batch's identity that both
// streams share.
func validateSequence(h *wire.Header) error {
	switch {
	case h.Session == "":
		return errors.New("session: must not be empty")
	case h.BatchID == "":
		return errors.New("batch_id: must not be empty")
	case h.Seq < 1:
		return fmt.Errorf("seq: must be at least 1, got %d", h.Seq)
	}
	return nil
}

// validateKnown refuses the type of event i when known, not nil, does not
// hold it (Options.EventTypes).
func validateKnown(i int, t wire.EventType, known map[wire.EventType]bool) error {
	if known != nil && !known[t] {
		return fmt.Errorf("events[%d].type: unknown event type %q", i, clip(string(t)))
	}
	return nil
}

// payloadField names the one payload field each event type carries.
var payloadField = map[wire.EventType]string{
	wire.EventSnapshotBegin: "snapshot",
	wire.EventSnapshotEnd:   "snapshot",
	wire.EventPodUpsert:     "pod",
	wire.EventPodDelete:     "pod_ref",
	wire.EventNode:          "node",
	wire.EventHost:          "host",
	wire.EventUsage:         "usage",
}

// validateEvent returns an error that starts with the field path below the
// event (".type: …"), so the caller can prefix "events[i]".
func validateEvent(e *wire.Event) error {
	if err := validatePayload(e.Type, payloadField, setPayloads(e)); err != nil {
		return err
	}
	switch e.Type {
	case wire.EventPodUpsert:
		return validateRef(".pod", e.Pod.Namespace, e.Pod.Name)
	case wire.EventPodDelete:
		return validateRef(".pod_ref", e.PodRef.Namespace, e.PodRef.Name)
	case wire.EventUsage:
		for i, p := range e.Usage.Pods {
			if err := validateRef(fmt.Sprintf(".usage.pods[%d]", i), p.Namespace, p.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// validatePayload checks that an event of type t, whose set payload
// fields are set, has exactly the one fields names for t; a type fields
// does not hold is unknown. The error starts with the field path below
// the event, like validateEvent's.
func validatePayload(t wire.EventType, fields map[wire.EventType]string, set []string) error {
	want, ok := fields[t]
	if !ok {
		if t == "" {
			return errors.New(".type: must not be empty")
		}
		return fmt.Errorf(".type: unknown event type %q", clip(string(t)))
	}
	if len(set) != 1 || set[0] != want {
		have := "none"
		if len(set) > 0 {
			have = strings.Join(set, ", ")
		}
		return fmt.Errorf(": %s event needs exactly the %q payload, has %s", t, want, have)
	}
	return nil
}

func setPayloads(e *wire.Event) []string {
	var set []string
	if e.Snapshot != nil {
		set = append(set, "snapshot")
	}
	if e.Pod != nil {
		set = append(set, "pod")
	}
	if e.PodRef != nil {
		set = append(set, "pod_ref")
	}
	if e.Node != nil {
		set = append(set, "node")
	}
	if e.Host != nil {
		set = append(set, "host")
	}
	if e.Usage != nil {
		set = append(set, "usage")
	}
	return set
}

func validateRef(path, namespace, name string) error {
	if namespace == "" {
		return fmt.Errorf("%s.namespace: must not be empty", path)
	}
	if name == "" {
		return fmt.Errorf("%s.name: must not be empty", path)
	}
	return nil
}

// validateSnapshot checks a decoded legacy snapshot.
func validateSnapshot(s *wire.Snapshot) error {
	if s.NodeName == "" {
		return errors.New("node_name: must not be empty")
	}
	for i, p := range s.Pods {
		if err := validateRef(fmt.Sprintf("pods[%d]", i), p.Namespace, p.Name); err != nil {
			return err
		}
	}
	return nil
}

// clip shortens a value from the request for an error message or a log
// line, so that a client cannot make either arbitrarily long.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}
