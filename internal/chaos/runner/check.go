package runner

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cairnkv/cairn/internal/chaos"
)

// checkInput is a recorded run to check.
type checkInput struct {
	Workload string
	History  []chaos.Op
	Faults   []chaos.Fault
	Out      string        // where the visualization and anomalies go
	Timeout  time.Duration // porcupine's budget
	Skew     time.Duration // ttl: how far group time may run ahead
	// Async, for a set history of an async primary-backup cluster: the
	// failovers the run saw, so that lost acknowledged adds within a
	// failover's window are accounted for, not failures.
	Async *asyncLoss
}

// asyncLoss is what accounting for an async cluster's losses needs.
type asyncLoss struct {
	Failovers   []chaos.Failover
	Window      time.Duration
	PartitionOf func(element string) int
}

// check checks a history with its workload's checker and builds the
// result: the summary, and on a failure the porcupine visualization
// (register) or the anomalies (set, ttl) written under Out.
func check(in checkInput) (*Result, error) {
	sum := chaos.NewSummary(in.History, in.Faults)
	sum.Workload = in.Workload
	res := &Result{Out: in.Out}
	switch in.Workload {
	case WorkloadRegister:
		r, err := chaos.CheckRegister(in.History, in.Timeout)
		if err != nil {
			return nil, fmt.Errorf("runner: checking the register history: %w", err)
		}
		sum.AddCheck(r.Check("register"))
		if r.Verdict != chaos.VerdictOk {
			path, err := visualize(in, r.Failed())
			if err != nil {
				return nil, err
			}
			res.Visualization = path
		}
	case WorkloadSet:
		r, err := chaos.CheckSet(in.History)
		if err != nil {
			return nil, fmt.Errorf("runner: checking the set history: %w", err)
		}
		hc := r.Check("set")
		if in.Async != nil {
			acc := chaos.AccountLoss(in.History, r.Lost, in.Async.PartitionOf, in.Async.Failovers, in.Async.Window)
			res.Loss = acc
			if r.Verdict == chaos.VerdictIllegal && acc.OK() && len(r.Unexpected)+len(r.FailedPresent) == 0 {
				// Every loss lies in a failover's window: what async
				// mode promises, accounted for, not an anomaly.
				r.Verdict, hc.Verdict, hc.Anomalies = chaos.VerdictOk, chaos.VerdictOk, 0
			}
			hc.Detail += "; " + acc.String()
		}
		sum.AddCheck(hc)
		if r.Verdict != chaos.VerdictOk || (res.Loss != nil && res.Loss.LostAcknowledged > 0) {
			res.Anomalies = filepath.Join(in.Out, "set-anomalies.json")
			if err := writeJSON(res.Anomalies, struct {
				Verdict       chaos.Verdict      `json:"verdict"`
				Reason        string             `json:"reason,omitempty"`
				Lost          []string           `json:"lost"`
				Unexpected    []string           `json:"unexpected"`
				FailedPresent []string           `json:"failed_present"`
				Loss          *chaos.LossAccount `json:"loss,omitempty"`
			}{r.Verdict, r.Reason, r.Lost, r.Unexpected, r.FailedPresent, res.Loss}); err != nil {
				return nil, err
			}
		}
	case WorkloadTTL:
		r, err := chaos.CheckTTL(in.History, int64(in.Skew))
		if err != nil {
			return nil, fmt.Errorf("runner: checking the ttl history: %w", err)
		}
		sum.AddCheck(r.Check("ttl"))
		if r.Verdict != chaos.VerdictOk {
			res.Anomalies = filepath.Join(in.Out, "ttl-anomalies.json")
			if err := writeJSON(res.Anomalies, r.Anomalies); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("%w: --workload %q: want register, set or ttl", ErrConfig, in.Workload)
	}
	res.Summary = sum
	return res, nil
}

// visualize writes porcupine's HTML for the keys that failed, with the
// faults drawn over it. Only those keys: a whole run's view is too big to
// open. They are checked again on their own for it.
func visualize(in checkInput, keys []string) (string, error) {
	var sub []chaos.Op
	for _, op := range in.History {
		if slices.Contains(keys, op.Key) {
			sub = append(sub, op)
		}
	}
	r, err := chaos.CheckRegister(sub, in.Timeout)
	if err != nil {
		return "", fmt.Errorf("runner: checking the failed keys again: %w", err)
	}
	path := filepath.Join(in.Out, "register.html")
	if err := r.WriteVisualization(path, in.Faults...); err != nil {
		return "", err
	}
	return path, nil
}

// writeJSON writes v to path, indented.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("runner: encoding %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	return nil
}

// writeHistory writes the history as JSON Lines (chaos.WriteHistory).
func writeHistory(path string, ops []chaos.Op) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("runner: %w", err)
	}
	if err := chaos.WriteHistory(f, ops); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// HistoryConfig is an offline check of a history a run wrote (--history).
type HistoryConfig struct {
	// History is the history.jsonl to check. Faults are read from
	// faults.json next to it when there is one, for the summary and the
	// visualization.
	History      string
	Workload     string
	Out          string // default: the history's directory
	CheckTimeout time.Duration
	// MaxClockOffset as the run's servers had it; ttl allows twice it.
	MaxClockOffset time.Duration
}

// CheckHistory checks a recorded history again, as Run checks its own.
func CheckHistory(cfg HistoryConfig) (*Result, error) {
	d := Config{Workload: cfg.Workload, CheckTimeout: cfg.CheckTimeout, MaxClockOffset: cfg.MaxClockOffset}
	d.setDefaults()
	cfg.Workload, cfg.CheckTimeout, cfg.MaxClockOffset = d.Workload, d.CheckTimeout, d.MaxClockOffset
	if cfg.Out == "" {
		cfg.Out = filepath.Dir(cfg.History)
	}
	f, err := os.Open(cfg.History)
	if err != nil {
		return nil, fmt.Errorf("%w: --history: %v", ErrConfig, err)
	}
	history, err := chaos.ReadHistory(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: --history %s: %v", ErrConfig, cfg.History, err)
	}
	var faults []chaos.Fault
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(cfg.History), "faults.json")); err == nil {
		if err := json.Unmarshal(b, &faults); err != nil {
			return nil, fmt.Errorf("runner: faults.json next to the history: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("runner: --out: %w", err)
	}
	res, err := check(checkInput{Workload: cfg.Workload, History: history, Faults: faults, Out: cfg.Out,
		Timeout: cfg.CheckTimeout, Skew: 2 * cfg.MaxClockOffset})
	if err != nil {
		return nil, err
	}
	res.Replay = fmt.Sprintf("cairn check --history %s --workload %s", cfg.History, cfg.Workload)
	return res, nil
}
