// Package devcluster runs `cairn dev`: a local cluster of real `cairn
// server` child processes on loopback, node i on the default ports plus
// i−1, each with its own data directory that is kept between runs.
//
//	err := devcluster.Run(ctx, devcluster.Config{Nodes: 3, DataDir: "./cairn-dev", Binary: exe, Out: os.Stdout})
//	// starts the children, waits until every /readyz answers 200, prints how to
//	// reach them, and on ctx's end sends SIGTERM to each and waits for it.
package devcluster
