package runner

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnkv/cairn/internal/chaos"
	pb "github.com/cairnkv/cairn/proto/cairn/v1"
)

// pollEvery is how often the failover watch asks every node for its
// routes: the slack, by the checker's clock, between a failover and its
// sighting.
const pollEvery = 200 * time.Millisecond

// failoverWatch watches an async primary-backup cluster's partitions for
// epoch changes, by polling every node's GetCluster, and notes each with
// the time the checker first saw it and the loss window the old primary
// last reported (its engine section's "loss_window").
type failoverWatch struct {
	now   func() int64
	conns map[string]*grpc.ClientConn

	mu        sync.Mutex
	seen      map[int]*partitionSeen
	failovers []chaos.Failover
}

type partitionSeen struct {
	epoch   uint64
	primary string
	loss    uint64 // the primary's last reported loss window, in entries
}

func newFailoverWatch(conns map[string]*grpc.ClientConn, now func() int64) *failoverWatch {
	return &failoverWatch{now: now, conns: conns, seen: map[int]*partitionSeen{}}
}

// run polls until ctx ends.
func (w *failoverWatch) run(ctx context.Context) {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for _, cc := range w.conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, pollEvery)
				defer cancel()
				info, err := pb.NewClusterClient(cc).GetCluster(cctx, &pb.GetClusterRequest{})
				if err == nil {
					w.note(info)
				}
			}()
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// note takes one node's answer.
func (w *failoverWatch) note(info *pb.ClusterInfo) {
	at := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range info.GetPartitions() {
		part := int(p.GetPartition())
		s, ok := w.seen[part]
		switch {
		case !ok:
			s = &partitionSeen{epoch: p.GetTerm(), primary: p.GetLeader()}
			w.seen[part] = s
		case p.GetTerm() > s.epoch:
			w.failovers = append(w.failovers, chaos.Failover{Partition: part, FromEpoch: s.epoch, ToEpoch: p.GetTerm(),
				From: s.primary, To: p.GetLeader(), At: at, LossEntries: s.loss})
			s.epoch, s.primary, s.loss = p.GetTerm(), p.GetLeader(), 0
		case p.GetTerm() == s.epoch && s.primary == "":
			s.primary = p.GetLeader()
		}
		// The answering node's own replica, when it is the primary at the
		// epoch known, reports what a failover would lose now.
		if l := p.GetLocal(); l != nil && l.GetRole() == "leader" && p.GetTerm() == s.epoch && l.GetEngineJson() != "" {
			var sec struct {
				Loss *struct {
					Entries uint64 `json:"entries"`
				} `json:"loss_window"`
			}
			if json.Unmarshal([]byte(l.GetEngineJson()), &sec) == nil && sec.Loss != nil {
				s.loss = sec.Loss.Entries
			}
		}
	}
}

// list returns the failovers seen, in the order seen.
func (w *failoverWatch) list() []chaos.Failover {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]chaos.Failover(nil), w.failovers...)
}
