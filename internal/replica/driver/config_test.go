package driver

import (
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/cairnkv/cairn/internal/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// Every field of the engine-neutral HostConfig reaches the driver's Config
// of the same name: a field added to one and forgotten in ConfigOf fails
// here.
func TestConfigOfMapsEveryField(t *testing.T) {
	hc := replica.HostConfig{
		Node: "n1", Store: storage.NewMem(), NewStateMachine: func(replica.GroupID) replica.StateMachine { return nil },
		Clock: clock.Real{}, Registry: prometheus.NewRegistry(), Logger: slog.Default(),
		TickInterval: time.Second, SnapshotRate: 5, Manual: true,
		ElectionTicks: 7, HeartbeatTicks: 3, TruncateAfter: 9, SnapshotChunkSize: 11,
		SnapshotSender: func(string, []byte, [][]byte, func(error)) {}, Fatal: func(error) {},
		UnsafeAckBeforeSync: true, ConsistencyCheckInterval: time.Minute, ConfigStore: replica.NewMemConfigStore(),
	}
	c := ConfigOf(hc, stubEngine{}, stubEngine{})
	if c.Engine == nil || c.MetaEngine == nil {
		t.Fatal("ConfigOf dropped the engines")
	}
	hv, cv := reflect.ValueOf(hc), reflect.ValueOf(c)
	for i := range hv.NumField() {
		name := hv.Type().Field(i).Name
		if name == "PrimaryBackup" {
			// One engine's own settings: its registration reads them
			// (primarybackup.OptionsOf); the driver does not carry them.
			continue
		}
		want, got := hv.Field(i), cv.FieldByName(name)
		switch {
		case !got.IsValid():
			t.Errorf("Config has no field %s", name)
		case want.IsZero():
			t.Errorf("set HostConfig.%s in this test", name)
		case want.Kind() == reflect.Func:
			if got.IsNil() {
				t.Errorf("Config.%s is nil; HostConfig set it", name)
			}
		case !reflect.DeepEqual(got.Interface(), want.Interface()):
			t.Errorf("Config.%s = %v, HostConfig has %v", name, got, want)
		}
	}
}
