package storage

import (
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// quietLogger passes pebble's log lines on, but an error line whose format
// was already logged within every goes by silently, and the next one that
// is logged says how many were held back: a disk error that pebble retries
// in a loop makes one line a second, not hundreds.
type quietLogger struct {
	pebble.Logger
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	seen map[string]*quietEntry
}

type quietEntry struct {
	last       time.Time
	suppressed int
}

// maxQuietFormats bounds the formats remembered (pebble has a few dozen).
const maxQuietFormats = 256

func newQuietLogger(l pebble.Logger, every time.Duration) *quietLogger {
	return &quietLogger{Logger: l, every: every, now: time.Now, seen: map[string]*quietEntry{}}
}

func (q *quietLogger) Errorf(format string, args ...any) {
	q.mu.Lock()
	now := q.now()
	e := q.seen[format]
	if e == nil {
		if len(q.seen) >= maxQuietFormats {
			clear(q.seen)
		}
		e = &quietEntry{}
		q.seen[format] = e
	} else if now.Sub(e.last) < q.every {
		e.suppressed++
		q.mu.Unlock()
		return
	}
	held := e.suppressed
	e.last, e.suppressed = now, 0
	q.mu.Unlock()
	if held > 0 {
		q.Logger.Errorf("%s (%d more like it held back since the last one logged)", fmt.Sprintf(format, args...), held)
		return
	}
	q.Logger.Errorf(format, args...)
}
