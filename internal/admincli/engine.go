package admincli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// The primary-backup section of cairn admin status: each partition's
// epoch, primary, in-sync set and each backup's lag, as the node holding
// the primary shows it (GetCluster's local view: only a primary knows its
// backups' lag). The meta leader's Status knows none of it, so the command
// asks every node.

// pbSection is one partition as cairn admin status prints it.
type pbSection struct {
	Epoch   uint64        `json:"epoch"`
	Primary uint64        `json:"primary"`
	InSync  []uint64      `json:"in_sync"`
	Mode    string        `json:"mode"`
	Backups []pbBackupLag `json:"backups"`
	Loss    *struct {
		Entries uint64 `json:"entries"`
		Bytes   uint64 `json:"bytes"`
	} `json:"loss_window"`
}

type pbBackupLag struct {
	Replica    uint64 `json:"replica"`
	LagEntries uint64 `json:"lag_entries"`
	LagBytes   uint64 `json:"lag_bytes"`
	InSync     bool   `json:"in_sync"`
}

// engineCluster asks an endpoint for the cluster (GetCluster).
func engineCluster(ctx context.Context, a *conn) (*pb.ClusterInfo, error) {
	var last error
	for _, ep := range a.endpoints {
		cc, err := a.dial(ep)
		if err != nil {
			last = err
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, a.timeout)
		info, err := pb.NewClusterClient(cc).GetCluster(cctx, &pb.GetClusterRequest{})
		cancel()
		if err == nil {
			return info, nil
		}
		last = err
	}
	return nil, last
}

// dial returns the connection to addr, made on first use.
func (a *conn) dial(addr string) (*grpc.ClientConn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cc, ok := a.conns[addr]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient(addr, a.dialOpts...)
	if err != nil {
		return nil, err
	}
	a.conns[addr] = cc
	return cc, nil
}

// addEngineSection fills st.EnginePartitions on a primary-backup cluster:
// every node's view is asked for at once, and each partition is taken from
// the node whose replica leads it (else from any node, with no local
// view). Nodes that do not answer are skipped: their partitions show
// without lag. Another engine's cluster is left as it is.
func addEngineSection(ctx context.Context, a *conn, st *pb.StatusResponse) {
	info, err := engineCluster(ctx, a)
	if err != nil || info.GetSettings().GetEngine() != "primary-backup" {
		return
	}
	best := map[uint32]*pb.PartitionInfo{}
	for _, p := range info.GetPartitions() {
		q := proto.Clone(p).(*pb.PartitionInfo)
		q.Local = nil // the answering node's own replica: not the primary's view
		best[p.GetPartition()] = q
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range info.GetNodes() {
		if n.GetGrpcAddr() == "" || n.GetState() == "removed" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc, err := a.dial(n.GetGrpcAddr())
			if err != nil {
				return
			}
			cctx, cancel := context.WithTimeout(ctx, a.timeout)
			defer cancel()
			ni, err := pb.NewClusterClient(cc).GetCluster(cctx, &pb.GetClusterRequest{})
			if err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range ni.GetPartitions() {
				if p.GetLocal().GetRole() == "leader" {
					best[p.GetPartition()] = p
				}
			}
		}()
	}
	wg.Wait()
	keys := make([]uint32, 0, len(best))
	for k := range best {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		st.EnginePartitions = append(st.EnginePartitions, best[k])
	}
}

// writeEngineSection prints the primary-backup partitions: one line each,
// its backups' lag in entries, bytes and seconds, and in async mode the
// loss window.
func writeEngineSection(w io.Writer, parts []*pb.PartitionInfo) {
	if len(parts) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tEPOCH\tPRIMARY\tIN-SYNC\tBACKUPS (lag: entries/bytes/seconds)\tLOSS-WINDOW")
	for _, p := range parts {
		node := func(id uint64) string {
			for i, r := range p.GetReplicaIds() {
				if r == id && i < len(p.GetReplicas()) {
					return p.GetReplicas()[i]
				}
			}
			return fmt.Sprintf("replica %d", id)
		}
		var sec pbSection
		l := p.GetLocal()
		if l == nil || l.GetEngineJson() == "" || json.Unmarshal([]byte(l.GetEngineJson()), &sec) != nil {
			fmt.Fprintf(tw, "%d\t%d\t%s\t-\t(no primary answered)\t-\n", p.GetPartition(), p.GetTerm(), orDash(p.GetLeader()))
			continue
		}
		var inSync []string
		for _, id := range sec.InSync {
			inSync = append(inSync, node(id))
		}
		secs := map[uint64]float64{}
		for _, pr := range l.GetProgress() {
			secs[pr.GetReplica()] = pr.GetLagSeconds()
		}
		var backups []string
		for _, b := range sec.Backups {
			mark := ""
			if !b.InSync {
				mark = " (not in sync)"
			}
			backups = append(backups, fmt.Sprintf("%s %d/%d/%.1fs%s", node(b.Replica), b.LagEntries, b.LagBytes, secs[b.Replica], mark))
		}
		loss := "-"
		if sec.Loss != nil {
			loss = fmt.Sprintf("%d entries, %d bytes", sec.Loss.Entries, sec.Loss.Bytes)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\n", p.GetPartition(), sec.Epoch, node(sec.Primary), strings.Join(inSync, ","),
			orDash(strings.Join(backups, ", ")), loss)
	}
	_ = tw.Flush()
}
