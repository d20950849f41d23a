//go:build e2e

// Package e2e tests the product as users meet it: real `cairn server`
// processes built once without -race, real clients (go-redis, redis-cli,
// redis-benchmark, curl, cairn kv), real signals. It runs alone so clusters
// of processes don't starve each other on 2 cores:
//
//	go test -race -tags e2e -p 1 ./e2e/
package e2e
