package usage

// The Collector's log messages, for the tests of package usage_test.
const (
	MsgFailed        = msgFailed
	MsgAccessible    = msgAccessible
	MsgRejected      = msgRejected
	MsgRejectedAgain = msgRejectedAgain
)
