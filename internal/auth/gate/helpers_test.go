package gate

import (
	"github.com/cairnkv/cairn/internal/auth"
	"github.com/cairnkv/cairn/internal/kv"
)

func kvPut(rec auth.JoinToken) kv.Command { return kv.NewCommand(kv.Put(rec.Key(), rec.Encode())) }
