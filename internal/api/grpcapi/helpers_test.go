package grpcapi

import (
	dtopb "github.com/prometheus/client_model/go"

	"github.com/cairnkv/cairn/internal/replica"
)

type dto = dtopb.MetricFamily

var (
	replicaErrNotLeader     = replica.ErrNotLeader{Group: 3, Hint: 2, HintNode: "n2"}
	replicaErrIndeterminate = replica.ErrIndeterminate
)
