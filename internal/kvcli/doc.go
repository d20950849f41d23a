// Package kvcli is `cairn kv`: get, put, del, incr and scan over gRPC
// against any node (--endpoints, tried in order), with human output by
// default and one JSON object per line under -o json.
//
//	err := kvcli.Run(ctx, kvcli.Options{Endpoints: []string{"127.0.0.1:7379"}, Output: "table", Out: os.Stdout},
//		"put", []string{"greeting", "hello"})
package kvcli
