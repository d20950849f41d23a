package ui

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/cairnkv/cairn/internal/api"
)

// RefreshInterval is how often the page polls the overview.
const RefreshInterval = time.Second

// PeerTimeout bounds the fetch of one member's figures while an overview is
// gathered: a node that does not answer within it shows as unreachable.
const PeerTimeout = time.Second

// Overview is GET /ui/api/overview: the cluster as the answering node sees
// it now.
type Overview struct {
	Time time.Time `json:"time"`
	// Node is the answering node.
	Node string `json:"node"`
	// Cluster is the node's GET /v1/cluster view.
	Cluster api.ClusterView `json:"cluster"`
	// Status is the meta leader's placement status (cairn admin status);
	// nil when it could not be had, with StatusError saying why.
	Status      *Status `json:"status,omitempty"`
	StatusError string  `json:"status_error,omitempty"`
	// Ring is the consistent-hash ring over the placeable members; empty
	// with RingError when it cannot be computed (too few nodes).
	Ring      Ring   `json:"ring"`
	RingError string `json:"ring_error,omitempty"`
	// Nodes are every member's own figures, in member order.
	Nodes  []NodeStats `json:"nodes"`
	Alarms []Alarm     `json:"alarms"`
	// DeadAfter is --dead-after: how long a member may be silent before the
	// meta leader declares it down.
	DeadAfterSeconds float64 `json:"dead_after_seconds"`
	// RefreshSeconds is RefreshInterval, for the page's timer.
	RefreshSeconds float64 `json:"refresh_seconds"`
}

// Status is the placement status the meta leader reports.
type Status struct {
	MetaLeader       string       `json:"meta_leader"`
	Epoch            uint64       `json:"epoch"`
	Nodes            []NodeStatus `json:"nodes"`
	InFlight         []Move       `json:"in_flight"`
	Queued           []Move       `json:"queued"`
	MovesDone        uint64       `json:"moves_done"`
	UnderReplicated  uint32       `json:"under_replicated"`
	Groups           uint32       `json:"groups"`
	GroupsKnown      uint32       `json:"groups_known"`
	PlacementRelaxed string       `json:"placement_relaxed"`
}

// NodeStatus is one member as the meta leader sees it.
type NodeStatus struct {
	Name           string  `json:"name"`
	State          string  `json:"state"`
	Zone           string  `json:"zone"`
	Capacity       float64 `json:"capacity"`
	Replicas       uint32  `json:"replicas"`
	Leaders        uint32  `json:"leaders"`
	TargetReplicas uint32  `json:"target_replicas"`
	Cap            uint32  `json:"cap"`
	// LastHeard is when the meta leader last heard from the node; zero
	// when not since it took office.
	LastHeard time.Time `json:"last_heard"`
}

// Move is one membership change of one group: a replica added on Add and
// one removed from Remove. Partition is -1 for the meta group.
type Move struct {
	Group     uint64 `json:"group"`
	Partition int    `json:"partition"`
	Add       string `json:"add"`
	Remove    string `json:"remove"`
}

// Ring is the hash ring as a picture: positions are fractions of the
// 64-bit hash space in [0, 1), clockwise from 0.
type Ring struct {
	// VNodes is the virtual nodes a node of capacity 1 gets.
	VNodes int `json:"vnodes"`
	// Points are the virtual nodes in ring order; each owns the arc from
	// the point before it (exclusive) to itself (inclusive).
	Points []RingPoint `json:"points"`
	// Partitions are where each partition hashes, with the nodes the ring
	// places its replicas on (preferred leader first).
	Partitions []RingPartition `json:"partitions"`
}

type RingPoint struct {
	Pos  float64 `json:"pos"`
	Node string  `json:"node"`
}

type RingPartition struct {
	Partition int      `json:"partition"`
	Pos       float64  `json:"pos"`
	Replicas  []string `json:"replicas"`
}

// NodeStats are one node's own figures, cumulative since it started.
type NodeStats struct {
	Name string `json:"name"`
	// Reachable is false when the node did not answer; Error says why and
	// the figures are zero.
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// Incarnation changes when the node restarts (its counters restart
	// from zero with it).
	Incarnation uint64    `json:"incarnation,string"`
	Time        time.Time `json:"time"`
	// Requests counts the requests the node's doors answered (RESP
	// commands, gRPC calls, HTTP key requests), and Latency is their
	// time-to-reply histogram, merged over the doors.
	Requests uint64    `json:"requests"`
	Latency  Histogram `json:"latency"`
	// DiskFreeBytes is the free space under the data directory; -1 when
	// unknown. NoSpace is true while writes are refused for want of it
	// (--min-free-disk).
	DiskFreeBytes int64 `json:"disk_free_bytes"`
	NoSpace       bool  `json:"no_space"`
	// ClockOffsetSeconds is the largest offset (by magnitude) of a peer's
	// clock from this node's, as its transport measures it.
	ClockOffsetSeconds float64 `json:"clock_offset_seconds"`
	// ConsistencyMismatches counts replicas this node found to differ from
	// their group's (cairn_consistency_mismatches_total).
	ConsistencyMismatches uint64 `json:"consistency_mismatches"`
	// Replicas and Leaders count the replicas the node hosts and those
	// that lead, the meta group's included.
	Replicas int `json:"replicas"`
	Leaders  int `json:"leaders"`
}

// Alarm is something an operator should look at now.
type Alarm struct {
	// Kind is one of "node-down", "unreachable", "consistency",
	// "clock-offset", "nospace", "under-replicated".
	Kind    string `json:"kind"`
	Node    string `json:"node,omitempty"`
	Message string `json:"message"`
}

// Source is what the dashboard reads: the node serving it.
type Source interface {
	// Overview gathers the cluster's overview, fetching every member's
	// figures (PeerTimeout each).
	Overview(ctx context.Context) Overview
	// Self is this node's own figures.
	Self() NodeStats
}

//go:embed assets
var assets embed.FS

// Handler serves the dashboard under /ui: the page at /ui/, its static
// files under /ui/static/, and the JSON it reads under /ui/api/. Mount it
// on the node's HTTP mux at "/ui/" (and "/ui").
func Handler(src Source, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		serveAsset(w, static, "index.html")
	})
	mux.HandleFunc("GET /ui/static/{file}", func(w http.ResponseWriter, r *http.Request) {
		serveAsset(w, static, r.PathValue("file"))
	})
	mux.HandleFunc("GET /ui/api/overview", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*PeerTimeout)
		defer cancel()
		writeJSON(w, log, src.Overview(ctx))
	})
	mux.HandleFunc("GET /ui/api/node", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, log, src.Self())
	})
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		http.NotFound(w, r)
	})
	return mux
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

func serveAsset(w http.ResponseWriter, static fs.FS, name string) {
	b, err := fs.ReadFile(static, name)
	if err != nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	ct := "application/octet-stream"
	for ext, t := range contentTypes {
		if len(name) > len(ext) && name[len(name)-len(ext):] == ext {
			ct = t
		}
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	// The page runs only its own script and talks only to its own node.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, log *slog.Logger, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		log.Error("dashboard: encoding JSON", "err", err)
		http.Error(w, "encoding the answer failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(append(b, '\n'))
}
