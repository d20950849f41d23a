package replica

import (
	"bytes"
	"fmt"
	"sync"
)

// MemConfigStore is a ConfigStore in memory, for tests and for the
// simulation, which stands it in for the meta group: deterministic, and
// driven by its caller. A call only queues its work; nothing is read,
// written or answered until the caller drains the queue with Step or Run,
// on the caller's goroutine, in the order the work was queued:
//
//	st := replica.NewMemConfigStore()
//	st.CompareAndSwap("pb/7", 0, v, done) // queued; done not called yet
//	st.Run()                                // written now, done called, watchers' fn queued and called
//
// This keeps the contract's "never from inside the call, never with the
// caller's lock held" for a simulation that runs every node on one
// goroutine: it calls Run where it chooses (between rounds, say), holding
// no lock of an engine's. A CompareAndSwap or Get takes effect when its
// turn in the queue comes, not when it is called, so a simulation can let
// the meta group answer late by draining late. Versions are handed out
// from one counter for the whole store, so a key's versions increase but
// are not consecutive, as with the node's store. Every version is handed
// to watchers (no coalescing): the node's store may skip some, so an
// engine must not depend on seeing them all.
//
// Its methods are safe to call from several goroutines (tests), though
// the order of the queue is then theirs to decide.
type MemConfigStore struct {
	mu struct {
		sync.Mutex
		queue []func()
		keys  map[string]memConfig
		// last is the last version handed out, to any key.
		last        uint64
		watches     map[string][]*memWatch
		unavailable bool
		stopped     bool
	}
}

type memConfig struct {
	value   []byte
	version uint64
}

type memWatch struct {
	key string
	fn  func([]byte, uint64)
	// last is the version fn was last called with. Guarded by the
	// store's mu.
	last      uint64
	cancelled bool
}

var _ ConfigStore = (*MemConfigStore)(nil)

// NewMemConfigStore returns an empty store.
func NewMemConfigStore() *MemConfigStore {
	s := &MemConfigStore{}
	s.mu.keys = map[string]memConfig{}
	s.mu.watches = map[string][]*memWatch{}
	return s
}

// CompareAndSwap implements ConfigStore: queued; applied when Step or Run
// reaches it.
func (s *MemConfigStore) CompareAndSwap(key string, version uint64, value []byte, done func(uint64, error)) {
	value = bytes.Clone(value)
	if value == nil {
		value = []byte{}
	}
	s.enqueue(func() {
		v, err := s.cas(key, version, value)
		done(v, err)
	})
}

func (s *MemConfigStore) cas(key string, version uint64, value []byte) (uint64, error) {
	if err := ValidConfigKey(key); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.unavailableLocked(); err != nil {
		return 0, err
	}
	cur := s.mu.keys[key]
	if cur.version != version {
		return 0, &ErrConfigConflict{Key: key, Version: cur.version, Value: bytes.Clone(cur.value)}
	}
	s.mu.last++
	s.mu.keys[key] = memConfig{value: value, version: s.mu.last}
	for _, w := range s.mu.watches[key] {
		s.notifyLocked(w, value, s.mu.last)
	}
	return s.mu.last, nil
}

// Get implements ConfigStore: queued; read when Step or Run reaches it.
func (s *MemConfigStore) Get(key string, done func([]byte, uint64, error)) {
	s.enqueue(func() {
		if err := ValidConfigKey(key); err != nil {
			done(nil, 0, err)
			return
		}
		s.mu.Lock()
		err := s.unavailableLocked()
		cur := s.mu.keys[key]
		s.mu.Unlock()
		if err != nil {
			done(nil, 0, err)
			return
		}
		done(bytes.Clone(cur.value), cur.version, nil)
	})
}

// Watch implements ConfigStore: the key's current value, if any, is
// queued for fn at once, and every later version when it is written.
func (s *MemConfigStore) Watch(key string, fn func([]byte, uint64)) (cancel func()) {
	w := &memWatch{key: key, fn: fn}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.stopped {
		return func() {}
	}
	s.mu.watches[key] = append(s.mu.watches[key], w)
	if cur, ok := s.mu.keys[key]; ok {
		s.notifyLocked(w, cur.value, cur.version)
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		w.cancelled = true
		ws := s.mu.watches[key]
		for i := range ws {
			if ws[i] == w {
				s.mu.watches[key] = append(ws[:i:i], ws[i+1:]...)
				break
			}
		}
	}
}

// notifyLocked queues a call of w's fn with version. NB: values are never
// changed in place (a write stores a new slice), so fn may share it.
func (s *MemConfigStore) notifyLocked(w *memWatch, value []byte, version uint64) {
	s.mu.queue = append(s.mu.queue, func() {
		s.mu.Lock()
		if w.cancelled || s.mu.stopped || version <= w.last {
			s.mu.Unlock()
			return
		}
		w.last = version
		s.mu.Unlock()
		w.fn(bytes.Clone(value), version)
	})
}

func (s *MemConfigStore) enqueue(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.queue = append(s.mu.queue, f)
}

func (s *MemConfigStore) unavailableLocked() error {
	switch {
	case s.mu.stopped:
		return fmt.Errorf("%w: config store closed", ErrStopped)
	case s.mu.unavailable:
		return fmt.Errorf("%w: config store unavailable (the meta group has no leader)", ErrNotApplied)
	}
	return nil
}

// Step does the oldest queued piece of work (a CompareAndSwap or Get and
// its done, or one call of a watcher's fn) and reports whether there was
// any. Work that it queues (watchers' calls, calls made by done or fn)
// waits its turn.
func (s *MemConfigStore) Step() bool {
	s.mu.Lock()
	if len(s.mu.queue) == 0 {
		s.mu.Unlock()
		return false
	}
	f := s.mu.queue[0]
	s.mu.queue[0] = nil
	s.mu.queue = s.mu.queue[1:]
	s.mu.Unlock()
	f()
	return true
}

// Run steps until the queue is empty, including the work that the steps
// queue, and returns how many steps it took. A watcher that writes on
// every call it gets keeps Run going for as long as it does.
func (s *MemConfigStore) Run() int {
	n := 0
	for s.Step() {
		n++
	}
	return n
}

// Pending is the number of queued pieces of work.
func (s *MemConfigStore) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.queue)
}

// SetUnavailable makes the store stand for a meta group without a leader
// (true) or with one again (false): while it is unavailable, every
// CompareAndSwap and Get that Step reaches fails with ErrNotApplied, and
// watchers see nothing new, since nothing is written.
func (s *MemConfigStore) SetUnavailable(unavailable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.unavailable = unavailable
}

// Peek returns key's value and version now, without queueing: for a
// test's or a simulation's checks, never for an engine.
func (s *MemConfigStore) Peek(key string) ([]byte, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.mu.keys[key]
	return bytes.Clone(cur.value), cur.version
}

// Close stops the store, as a node's stop does: queued and later calls
// fail with ErrStopped when Step reaches them (a queued CompareAndSwap is
// not applied), and watchers get no more calls.
func (s *MemConfigStore) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.stopped = true
	s.mu.watches = map[string][]*memWatch{}
}
