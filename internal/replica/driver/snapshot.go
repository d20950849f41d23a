package driver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
)

// A snapshot travels on the transport's snapshot call, never on the
// message stream (notes/raft.md §3):
//
//	header: version, group, from replica, to replica, the engine's
//	        snapshot message (raft: a MsgSnap, raftpb)
//	chunks: (uvarint key length, key, uvarint value length, value)...
//
// The sender reads a consistent store snapshot of the group's replicated
// span; the applied index, term and descriptor it reports come from inside
// that snapshot, not from what the core asked for (raft accepts any
// snapshot that reconnects the follower; an engine must too).
const snapHeaderVersion = 1

var errSnapshot = errors.New("driver: malformed snapshot")

func encodeSnapHeader(gid, from, to uint64, msg []byte) []byte {
	b := []byte{snapHeaderVersion}
	b = binary.AppendUvarint(b, gid)
	b = binary.AppendUvarint(b, from)
	b = binary.AppendUvarint(b, to)
	return append(b, msg...)
}

func decodeSnapHeader(b []byte) (gid, from, to uint64, msg []byte, err error) {
	if len(b) == 0 || b[0] != snapHeaderVersion {
		return 0, 0, 0, nil, fmt.Errorf("%w: header version", errSnapshot)
	}
	b = b[1:]
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, 0, 0, nil, fmt.Errorf("%w: header", errSnapshot)
		}
		vals[i], b = v, b[n:]
	}
	return vals[0], vals[1], vals[2], b, nil
}

func appendKV(c, k, v []byte) []byte {
	c = binary.AppendUvarint(c, uint64(len(k)))
	c = append(c, k...)
	c = binary.AppendUvarint(c, uint64(len(v)))
	return append(c, v...)
}

// decodeChunk appends the key/value pairs of one chunk to kvs (copies).
func decodeChunk(kvs [][2][]byte, c []byte) ([][2][]byte, error) {
	for len(c) > 0 {
		var kv [2][]byte
		for i := range kv {
			n, w := binary.Uvarint(c)
			if w <= 0 || n > uint64(len(c)-w) {
				return kvs, fmt.Errorf("%w: chunk", errSnapshot)
			}
			kv[i] = append([]byte(nil), c[w:w+int(n)]...)
			c = c[w+int(n):]
		}
		kvs = append(kvs, kv)
	}
	return kvs, nil
}

// startSnapshot streams a snapshot to a follower in the background and
// reports the outcome to the core. g.mu is held by the caller. With
// Config.SnapshotSender the snapshot is read here, in the round, and handed
// to it instead: no goroutine. The snapshot rate holds back each chunk of
// a stream; a snapshot for SnapshotSender, whole, until a later Tick.
func (h *Host) startSnapshot(g *group, node string, m Message) {
	to := m.To
	reported := func(err error) {
		if err != nil {
			h.metrics.snapshotsFailed.Inc()
			h.log.Warn("sending snapshot failed", "group", g.gid, "to", to, "node", node, "err", err)
		} else {
			h.metrics.snapshotsSent.Inc()
		}
		g.enqueue(func() { g.in.reports = append(g.in.reports, report{to: to, snap: true, success: err == nil}) })
	}
	if send := h.cfg.SnapshotSender; send != nil {
		header, chunks, err := h.readSnapshot(g, m)
		if err != nil {
			reported(err)
			return
		}
		if h.snapRate != nil {
			n := 0
			for _, c := range chunks {
				n += len(c)
			}
			if d := h.snapRate.Reserve(n); d > 0 {
				// NB: the round must not wait (a simulation runs every node
				// in one goroutine): a later Tick hands it over.
				h.metrics.snapThrottled.Add(d.Seconds())
				h.deferSnapshot(d, func() { send(node, header, chunks, reported) })
				return
			}
		}
		send(node, header, chunks, reported)
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		reported(h.sendSnapshot(g, node, m))
	}()
}

// snapshotHeader builds the header of a snapshot of g from a consistent
// store view: the engine's snapshot message m, rewritten with the applied
// index, term and configuration found in that view.
func snapshotHeader(g *group, v storage.View, m Message) ([]byte, error) {
	gid := uint64(g.gid)
	raw, err := v.Get(storage.AppliedKey(gid))
	if err != nil {
		return nil, fmt.Errorf("reading applied state: %w", err)
	}
	applied, err := storage.DecodeAppliedState(raw)
	if err != nil {
		return nil, err
	}
	raw, err = v.Get(storage.DescriptorKey(gid))
	if err != nil {
		return nil, fmt.Errorf("reading the descriptor: %w", err)
	}
	d, err := replica.DecodeDescriptor(raw)
	if err != nil {
		return nil, err
	}
	payload, err := g.eng.SnapshotMessage(m.Payload, SnapshotPoint{Index: applied.Index, Term: applied.Term, Conf: ConfOf(d)})
	if err != nil {
		return nil, err
	}
	return encodeSnapHeader(gid, uint64(g.id), uint64(m.To), payload), nil
}

// snapshotChunks yields the group's replicated span from v in chunks of
// about chunkSize bytes.
func snapshotChunks(gid uint64, v storage.View, chunkSize int, yield func([]byte) error) error {
	start, end := storage.ReplicatedSpan(gid)
	it, err := v.NewIter(start, end)
	if err != nil {
		return err
	}
	defer it.Close()
	var c []byte
	for ok := it.First(); ok; ok = it.Next() {
		c = appendKV(c, it.Key(), it.Value())
		if len(c) >= chunkSize {
			if err := yield(c); err != nil {
				return err
			}
			c = nil
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	if len(c) > 0 {
		return yield(c)
	}
	return nil
}

// readSnapshot reads a whole snapshot of g into memory, for
// Config.SnapshotSender.
func (h *Host) readSnapshot(g *group, m Message) (header []byte, chunks [][]byte, err error) {
	snap := h.store.NewSnapshot()
	defer snap.Close()
	if header, err = snapshotHeader(g, snap, m); err != nil {
		return nil, nil, err
	}
	err = snapshotChunks(uint64(g.gid), snap, h.cfg.SnapshotChunkSize, func(c []byte) error {
		chunks = append(chunks, c)
		return nil
	})
	return header, chunks, err
}

func (h *Host) sendSnapshot(g *group, node string, m Message) error {
	snap := h.store.NewSnapshot()
	defer snap.Close()
	header, err := snapshotHeader(g, snap, m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-h.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	chunks := func(yield func([]byte) error) error {
		return snapshotChunks(uint64(g.gid), snap, h.cfg.SnapshotChunkSize, func(c []byte) error {
			if err := h.throttleSnapshot(ctx, len(c)); err != nil {
				return err
			}
			return yield(c)
		})
	}
	return h.tr.SendSnapshot(ctx, node, header, chunks)
}

// throttleSnapshot waits until the snapshot rate allows n more bytes, or
// until ctx ends (the host closes, the stream fails).
func (h *Host) throttleSnapshot(ctx context.Context, n int) error {
	if h.snapRate == nil {
		return nil
	}
	d, err := h.snapRate.Wait(ctx, n)
	if d > 0 {
		h.metrics.snapThrottled.Add(d.Seconds())
	}
	if err != nil {
		return fmt.Errorf("driver: waiting for the snapshot rate: %w", err)
	}
	return nil
}

// deferredSnapshot is a snapshot for Config.SnapshotSender held back by the
// snapshot rate until the host's monotonic time reaches at.
type deferredSnapshot struct {
	at   time.Duration
	send func()
}

// deferSnapshot holds send back for d; Tick calls it once d has passed.
func (h *Host) deferSnapshot(d time.Duration, send func()) {
	h.deferredSnaps.Lock()
	defer h.deferredSnaps.Unlock()
	h.deferredSnaps.list = append(h.deferredSnaps.list, deferredSnapshot{at: h.cfg.Clock.Monotonic() + d, send: send})
}

// sendDeferredSnapshots hands over, in the order they were taken, the held
// back snapshots whose time came.
func (h *Host) sendDeferredSnapshots() {
	h.deferredSnaps.Lock()
	if len(h.deferredSnaps.list) == 0 {
		h.deferredSnaps.Unlock()
		return
	}
	now := h.cfg.Clock.Monotonic()
	var due []deferredSnapshot
	keep := h.deferredSnaps.list[:0]
	for _, s := range h.deferredSnaps.list {
		if s.at <= now {
			due = append(due, s)
		} else {
			keep = append(keep, s)
		}
	}
	clear(h.deferredSnaps.list[len(keep):])
	h.deferredSnaps.list = keep
	h.deferredSnaps.Unlock()
	for _, s := range due {
		s.send()
	}
}

// receiveSnapshot takes a whole snapshot stream, checks it names the
// receiving replica, and hands it to the group's next round, which applies
// it atomically with the log reset if raft accepts it. done gets the
// outcome (see HandleSnapshotAsync).
func (h *Host) receiveSnapshot(from string, header []byte, next func() ([]byte, error), done func(error)) {
	s, g, err := h.readReceivedSnapshot(from, header, next)
	if err != nil {
		done(err)
		return
	}
	s.done = done
	if !g.enqueue(func() { g.in.snaps = append(g.in.snaps, s) }) {
		done(replica.ErrStopped)
	}
}

// readReceivedSnapshot decodes and checks a received snapshot stream.
func (h *Host) readReceivedSnapshot(from string, header []byte, next func() ([]byte, error)) (*snapReq, *group, error) {
	gid, fromID, to, msg, err := decodeSnapHeader(header)
	if err != nil {
		return nil, nil, err
	}
	at, mfrom, mto, err := h.engineOf(replica.GroupID(gid)).DecodeSnapshot(msg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: message: %w", errSnapshot, err)
	}
	if uint64(mto) != to || uint64(mfrom) != fromID {
		return nil, nil, fmt.Errorf("%w: header and message disagree", errSnapshot)
	}
	g := h.groupFor(replica.GroupID(gid), replica.ReplicaID(to))
	if g == nil {
		return nil, nil, fmt.Errorf("driver: node %s refuses snapshot for group %d replica %d (removed or unknown)", h.cfg.Node, gid, to)
	}
	var kvs [][2][]byte
	for {
		c, err := next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, nil, err
		}
		if kvs, err = decodeChunk(kvs, c); err != nil {
			return nil, nil, err
		}
	}
	start, end := storage.ReplicatedSpan(gid)
	dkey := storage.DescriptorKey(gid)
	named := false
	for _, kv := range kvs {
		if string(kv[0]) < string(start) || string(kv[0]) >= string(end) {
			return nil, nil, fmt.Errorf("%w: key outside group %d", errSnapshot, gid)
		}
		if string(kv[0]) == string(dkey) {
			d, err := replica.DecodeDescriptor(kv[1])
			if err != nil {
				return nil, nil, err
			}
			_, named = d.Replica(replica.ReplicaID(to))
		}
	}
	if !named {
		return nil, nil, fmt.Errorf("driver: snapshot for group %d does not name replica %d", gid, to)
	}
	g.peers.Store(replica.ReplicaID(fromID), from)
	return &snapReq{msg: msg, from: mfrom, at: at, kvs: kvs}, g, nil
}

// stageSnapshot writes an accepted snapshot into the round's log batch:
// the group's replicated span replaced, the log reset to start after it.
// (The core's Stage resets the log.)
func (g *group) stageSnapshot(snap SnapshotPoint, b storage.Batch) error {
	s := g.pendingSnap
	if s == nil || s.at.Index != snap.Index {
		return fmt.Errorf("driver: group %d: the core accepted a snapshot at %d that was not received",
			g.gid, snap.Index)
	}
	return g.sm.Restore(b, s.kvs)
}

// settleSnapshot answers a received snapshot at the end of the round that
// stepped it, if the core did not take it: raft drops a stale one (or one
// from an older term) without a word, so nothing would ever answer it
// otherwise.
// The sender's stream succeeds when our log already covers the snapshot.
func (g *group) settleSnapshot() {
	s := g.pendingSnap
	if s == nil {
		return
	}
	g.pendingSnap = nil
	idx := s.at.Index
	if g.core.Basic().Commit >= idx {
		s.done(nil)
		return
	}
	s.done(fmt.Errorf("driver: group %d: snapshot at %d not accepted by the engine", g.gid, idx))
}

// ParseSnapshotHeader reads a snapshot stream's header: the group, the
// replicas it goes between and the engine's snapshot message (which the
// engine's CoreEngine.DecodeSnapshot reads). For tools and tests that
// watch streams go by.
func ParseSnapshotHeader(b []byte) (group, from, to uint64, msg []byte, err error) {
	return decodeSnapHeader(b)
}

// SnapshotChunkKeys counts the key/value pairs of one snapshot chunk.
func SnapshotChunkKeys(c []byte) (int, error) {
	kvs, err := decodeChunk(nil, c)
	return len(kvs), err
}
