package node

import (
	"context"
	"math"
	"net/http"

	cairnv1 "github.com/cairnkv/cairn/proto/cairn/v1"

	"github.com/cairnkv/cairn/internal/cluster"
	"github.com/cairnkv/cairn/internal/ui"
)

// dashboard is the node as the dashboard's ui.Source.
type dashboard struct {
	n      *Node
	client *http.Client
	scheme string // of the peers' HTTP doors: https when the cluster runs TLS
}

func newDashboard(n *Node) *dashboard {
	d := &dashboard{n: n, client: &http.Client{Timeout: ui.PeerTimeout}, scheme: "http"}
	if cfg := n.tls.DoorClientConfig(); cfg != nil {
		d.client.Transport = &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
		d.scheme = "https"
	}
	return d
}

// Self implements ui.Source.
func (d *dashboard) Self() ui.NodeStats {
	n := d.n
	st := ui.NodeStats{
		Name: n.cfg.Name, Reachable: true, Incarnation: n.id.Incarnation,
		Time: n.clock.Now().UTC(), DiskFreeBytes: -1, NoSpace: n.noSpace.Load(),
	}
	if free, err := n.cfg.FreeDisk(n.cfg.DataDir); err == nil && free <= math.MaxInt64 {
		st.DiskFreeBytes = int64(free)
	}
	if err := ui.RegistryStats(n.registry, &st); err != nil {
		st.Error = err.Error()
	}
	return st
}

// Overview implements ui.Source.
func (d *dashboard) Overview(ctx context.Context) ui.Overview {
	n := d.n
	ov := ui.Overview{
		Time: n.clock.Now().UTC(), Node: n.cfg.Name, Cluster: n.Cluster(),
		DeadAfterSeconds: n.cfg.DeadAfter.Seconds(), RefreshSeconds: ui.RefreshInterval.Seconds(),
	}
	if st, err := n.admin.Status(ctx, &cairnv1.StatusRequest{}); err != nil {
		ov.StatusError = err.Error()
	} else {
		ov.Status = ui.StatusOf(st)
	}
	var peers []ui.Peer
	var members []cluster.Member
	if mv := n.routing.Meta(); mv != nil {
		members = mv.Members
	}
	for _, nv := range ov.Cluster.Nodes {
		if nv.State != cluster.NodeRemoved {
			peers = append(peers, ui.Peer{Name: nv.Name, HTTP: nv.HTTP})
		}
	}
	ov.Ring, ov.RingError = ui.RingOf(members, n.id.Settings)
	ov.Nodes = ui.Gather(ctx, d.client, d.scheme, d.Self(), peers)
	ov.Alarms = ui.Alarms(ov, n.cfg.MaxClockOffset)
	return ov
}
