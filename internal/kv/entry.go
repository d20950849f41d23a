package kv

// Entry is one committed log entry as the state machine sees it.
type Entry struct {
	Index uint64
	Term  uint64
	// Time is the leader's clock stamp on the entry (Unix nanoseconds);
	// group time is the maximum of all stamps applied so far.
	Time int64
	// Data is an encoded Command; empty entries (a new leader's first entry,
	// a refused conf change) carry none and only advance the applied index.
	Data []byte
}

// Result is the encoded answer to one entry (see EncodeResult); nil for an
// entry without a command.
type Result []byte
