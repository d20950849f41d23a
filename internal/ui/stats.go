package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Histogram is a cumulative histogram: Counts[i] observations took at most
// Bounds[i] seconds; Count is all of them (the +Inf bucket).
type Histogram struct {
	Bounds []float64 `json:"bounds"`
	Counts []uint64  `json:"counts"`
	Count  uint64    `json:"count"`
}

// requestHistograms are the doors' time-to-reply histograms, each with the
// test a series must pass to count as a client request.
var requestHistograms = map[string]func(*dto.Metric) bool{
	"cairn_resp_command_seconds": func(*dto.Metric) bool { return true },
	"cairn_grpc_request_seconds": func(*dto.Metric) bool { return true },
	// The key routes only: /metrics scrapes, probes and this page's own
	// polls are not the load an operator wants to see.
	"cairn_http_request_seconds": func(m *dto.Metric) bool {
		return strings.Contains(label(m, "route"), "/v1/kv")
	},
}

// RegistryStats fills in the figures of st that come from a node's
// Prometheus registry: Requests and Latency from the doors' histograms,
// ClockOffsetSeconds, ConsistencyMismatches, Replicas and Leaders.
func RegistryStats(g prometheus.Gatherer, st *NodeStats) error {
	mfs, err := g.Gather()
	if err != nil {
		return fmt.Errorf("ui: reading the metrics: %w", err)
	}
	var hs []Histogram
	for _, mf := range mfs {
		name := mf.GetName()
		if keep, ok := requestHistograms[name]; ok {
			for _, m := range mf.GetMetric() {
				if h := m.GetHistogram(); h != nil && keep(m) {
					hs = append(hs, fromProto(h))
				}
			}
			continue
		}
		for _, m := range mf.GetMetric() {
			switch name {
			case "cairn_transport_clock_offset_seconds":
				if v := m.GetGauge().GetValue(); math.Abs(v) > math.Abs(st.ClockOffsetSeconds) {
					st.ClockOffsetSeconds = v
				}
			case "cairn_consistency_mismatches_total":
				st.ConsistencyMismatches += uint64(m.GetCounter().GetValue())
			case "cairn_raft_groups": // every engine's replicas, the meta group's too
				st.Replicas += int(m.GetGauge().GetValue())
			case "cairn_raft_groups_led":
				st.Leaders += int(m.GetGauge().GetValue())
			}
		}
	}
	st.Latency = Merge(hs...)
	st.Requests = st.Latency.Count
	return nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func fromProto(h *dto.Histogram) Histogram {
	out := Histogram{Count: h.GetSampleCount()}
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		out.Bounds = append(out.Bounds, b.GetUpperBound())
		out.Counts = append(out.Counts, b.GetCumulativeCount())
	}
	return out
}

// Merge adds histograms that may have different bounds. The result has
// every bound of any of them; at each bound it counts, from each histogram,
// the observations at or below that histogram's largest bound not above
// it. So a merged count never overstates how many observations were that
// fast, and a quantile read from it errs on the slow side by at most one
// bucket of the coarsest histogram.
func Merge(hs ...Histogram) Histogram {
	var out Histogram
	for _, h := range hs {
		out.Bounds = append(out.Bounds, h.Bounds...)
		out.Count += h.Count
	}
	slices.Sort(out.Bounds)
	out.Bounds = slices.Compact(out.Bounds)
	out.Counts = make([]uint64, len(out.Bounds))
	for _, h := range hs {
		j := -1 // h's largest bound at or below the merged one
		for i, b := range out.Bounds {
			for j+1 < len(h.Bounds) && h.Bounds[j+1] <= b {
				j++
			}
			if j >= 0 {
				out.Counts[i] += h.Counts[j]
			}
		}
	}
	return out
}

// Quantile estimates the q-quantile (0 < q ≤ 1) of the observations h
// counts, interpolating linearly inside the bucket it falls in (as
// Prometheus's histogram_quantile does); the largest bound when it falls in
// the +Inf bucket, NaN when h is empty.
func (h Histogram) Quantile(q float64) float64 {
	if h.Count == 0 {
		return math.NaN()
	}
	rank := q * float64(h.Count)
	lower, below := 0.0, uint64(0)
	for i, b := range h.Bounds {
		if float64(h.Counts[i]) >= rank {
			in := h.Counts[i] - below
			if in == 0 {
				return b
			}
			return lower + (b-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = b, h.Counts[i]
	}
	if len(h.Bounds) == 0 {
		return math.NaN()
	}
	return h.Bounds[len(h.Bounds)-1]
}

// Peer is a member whose figures an overview fetches.
type Peer struct {
	Name string
	// HTTP is the address its HTTP door advertises; "" when unknown.
	HTTP string
}

// Gather returns every peer's figures in the order given: self's for the
// peer named self.Name, and for each other one what its GET /ui/api/node
// answers within PeerTimeout (Reachable false, with the reason, when it
// does not), asked over scheme ("http", or "https" on a cluster with TLS,
// client's transport then carrying the TLS configuration).
func Gather(ctx context.Context, client *http.Client, scheme string, self NodeStats, peers []Peer) []NodeStats {
	out := make([]NodeStats, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		if p.Name == self.Name {
			out[i] = self
			continue
		}
		wg.Go(func() {
			st, err := fetch(ctx, client, scheme, p)
			if err != nil {
				st = NodeStats{Name: p.Name, Error: err.Error(), DiskFreeBytes: -1}
			}
			out[i] = st
		})
	}
	wg.Wait()
	return out
}

func fetch(ctx context.Context, client *http.Client, scheme string, p Peer) (NodeStats, error) {
	if p.HTTP == "" {
		return NodeStats{}, fmt.Errorf("%s advertises no HTTP address", p.Name)
	}
	ctx, cancel := context.WithTimeout(ctx, PeerTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+p.HTTP+"/ui/api/node", nil)
	if err != nil {
		return NodeStats{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return NodeStats{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return NodeStats{}, fmt.Errorf("GET /ui/api/node on %s: %s", p.HTTP, resp.Status)
	}
	var st NodeStats
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return NodeStats{}, fmt.Errorf("GET /ui/api/node on %s: %w", p.HTTP, err)
	}
	if st.Name != p.Name {
		return NodeStats{}, fmt.Errorf("%s answers as %q", p.HTTP, st.Name)
	}
	st.Reachable = true
	return st, nil
}

// Alarms lists what ov shows wrong: members the meta leader declared down,
// members that did not answer, replicas found inconsistent, a clock
// further than maxClockOffset from a peer's, a node refusing writes for
// want of disk, and under-replicated groups.
func Alarms(ov Overview, maxClockOffset time.Duration) []Alarm {
	out := []Alarm{}
	down := map[string]bool{}
	if ov.Status != nil {
		for _, n := range ov.Status.Nodes {
			if n.State == "down" {
				down[n.Name] = true
				out = append(out, Alarm{Kind: "node-down", Node: n.Name, Message: fmt.Sprintf("%s is down: not heard from for --dead-after; its replicas are moving away", n.Name)})
			}
		}
		if u := ov.Status.UnderReplicated; u > 0 {
			out = append(out, Alarm{Kind: "under-replicated", Message: fmt.Sprintf("%d groups have fewer voters on live nodes than --replicas", u)})
		}
	}
	for _, n := range ov.Nodes {
		switch {
		case !n.Reachable && !down[n.Name]:
			out = append(out, Alarm{Kind: "unreachable", Node: n.Name, Message: fmt.Sprintf("%s did not answer: %s", n.Name, n.Error)})
		case !n.Reachable:
		default:
			if n.ConsistencyMismatches > 0 {
				out = append(out, Alarm{Kind: "consistency", Node: n.Name, Message: fmt.Sprintf("%s found %d replicas that differ from their group's (cairn admin verify)", n.Name, n.ConsistencyMismatches)})
			}
			if off := time.Duration(math.Abs(n.ClockOffsetSeconds) * float64(time.Second)); maxClockOffset > 0 && off > maxClockOffset {
				out = append(out, Alarm{Kind: "clock-offset", Node: n.Name, Message: fmt.Sprintf("%s sees a peer's clock %v away, above --max-clock-offset %v", n.Name, off.Round(time.Millisecond), maxClockOffset)})
			}
			if n.NoSpace {
				out = append(out, Alarm{Kind: "nospace", Node: n.Name, Message: fmt.Sprintf("%s refuses writes: free disk is below --min-free-disk", n.Name)})
			}
		}
	}
	return out
}
