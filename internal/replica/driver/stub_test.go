package driver

import (
	"io"
	"log/slog"
	"testing"

	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// stubEngine is an engine whose cores never do anything: for tests of
// the driver's own machinery (snapshot streams, the rate), which a round
// never reaches.
type stubEngine struct{}

func (stubEngine) Name() string                     { return "stub" }
func (stubEngine) NewCore(CoreConfig) (Core, error) { return stubCore{}, nil }

// Bootstrap writes the applied state a founding group starts from.
func (stubEngine) Bootstrap(b storage.Batch, d replica.Descriptor) error {
	return b.Set(storage.AppliedKey(uint64(d.Group)), storage.EncodeAppliedState(nil, storage.AppliedState{Index: 10, Term: 5}))
}
func (stubEngine) SnapshotMessage(msg []byte, _ SnapshotPoint) ([]byte, error) {
	return msg, nil
}
func (stubEngine) DecodeSnapshot([]byte) (SnapshotPoint, replica.ReplicaID, replica.ReplicaID, error) {
	return SnapshotPoint{}, 0, 0, io.ErrUnexpectedEOF
}
func (stubEngine) Recovery(storage.LogReader, replica.GroupID) (uint64, error) { return 0, nil }
func (stubEngine) StageRecovery(storage.LogReader, storage.LogWriter, replica.GroupID, uint64) error {
	return nil
}

type stubCore struct{}

func (stubCore) Tick()                                    {}
func (stubCore) Step(replica.ReplicaID, []byte) error     { return nil }
func (stubCore) Propose([]byte) error                     { return ErrDropped }
func (stubCore) ProposeChange(Change) error               { return ErrDropped }
func (stubCore) ReadIndex([]byte)                         {}
func (stubCore) TransferLeader(replica.ReplicaID)         {}
func (stubCore) Campaign() error                          { return nil }
func (stubCore) ReportUnreachable(replica.ReplicaID)      {}
func (stubCore) ReportSnapshot(replica.ReplicaID, bool)   {}
func (stubCore) HasReady() bool                           { return false }
func (stubCore) Ready() Ready                             { return Ready{} }
func (stubCore) Advance(Ready)                            {}
func (stubCore) Stage(storage.LogWriter, *Ready) error    { return nil }
func (stubCore) Log() Log                                 { return stubLog{} }
func (stubCore) Basic() Basic                             { return Basic{} }
func (stubCore) Progress() map[replica.ReplicaID]Progress { return nil }
func (stubCore) EngineStatus() replica.EngineStatus       { return replica.EngineStatus{Name: "stub"} }
func (stubCore) ChangeContext(LogEntry) ([]byte, error)   { return nil, io.ErrUnexpectedEOF }
func (stubCore) ApplyChange(LogEntry) (Conf, error)       { return Conf{}, io.ErrUnexpectedEOF }

type stubLog struct{}

func (stubLog) FirstIndex() uint64                            { return 1 }
func (stubLog) LastIndex() uint64                             { return 0 }
func (stubLog) LogSize() uint64                               { return 0 }
func (stubLog) StageTruncate(storage.LogWriter, uint64) error { return nil }

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// counterValue sums the counters and gauges named name in reg.
func counterValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}
func (stubEngine) Joint() bool { return false }

func (stubEngine) Serves(replica.ReadMode) error { return nil }
