// Package admincli is `cairn admin` and `cairn server --join --dry-run`: a
// client of the cairn.v1 Admin service that calls it, prints the answer
// as a table or as one JSON object per line (-o json, the .proto's field
// names), and for --wait polls the status until the rebalancer is done.
// cmd/cairn turns the flags into Options and gives the errors their exit
// statuses; everything else is here, so a test can run a command against
// a fake Admin server without cobra.
//
//	err := admincli.Run(ctx, admincli.Options{Endpoints: []string{"127.0.0.1:7379"}, Output: "table",
//		Wait: true, Out: os.Stdout, Err: os.Stderr}, "drain", []string{"n2"})
//	switch {
//	case errors.Is(err, admincli.ErrUsage), errors.Is(err, admincli.ErrInterrupted): // exit 2
//	case err != nil: // exit 1: the cluster refused (its message as it is) or a check failed
//	}
//
// Commands: status (--wait), drain NODE and remove NODE (--dry-run or
// --wait), unsafe-recover PARTITION (reports, asks for the partition
// number to be typed back unless --yes, --dry-run stops after the report)
// and verify [PARTITION] (an error when any partition's replicas do not
// agree). --endpoints are tried in order, each call going first to the
// one that answered last, until one answers with anything but
// UNAVAILABLE; a node that does not lead the meta group passes the call on
// itself. Under -o json a failed command still prints one line,
// {"error": "..."}, unless it printed its answer already (verify).
package admincli
