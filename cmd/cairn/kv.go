package main

import "github.com/spf13/cobra"

func kvCmd() *cobra.Command {
	return &cobra.Command{Use: "kv", Short: "Read and write keys over gRPC"}
}
