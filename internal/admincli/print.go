package admincli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	pb "github.com/cairnkv/cairn/proto/cairn/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// writeRecoverPlan says what an unsafe recovery would keep and lose.
func writeRecoverPlan(w io.Writer, r *pb.UnsafeRecoverResponse) {
	fmt.Fprintf(w, "partition %d (group %d) has lost its quorum: voters %s; not answering: %s.\n",
		r.GetPartition(), r.GetGroup(), strings.Join(r.GetVoters(), ", "), strings.Join(r.GetUnreachable(), ", "))
	fmt.Fprintf(w, "It would be recovered from %s, which has applied up to entry %d; its log ends at %d, so %d %s above that %s dropped.\n",
		r.GetSurvivor(), r.GetApplied(), r.GetLastIndex(), r.GetDiscarded(), plural(int(r.GetDiscarded()), "entry", "entries"),
		map[bool]string{true: "is", false: "are"}[r.GetDiscarded() == 1])
	fmt.Fprintf(w, "Writes acknowledged after entry %d that only %s held are lost, and their replicas are deleted if they come back.\n",
		r.GetApplied(), strings.Join(r.GetUnreachable(), ", "))
}

// movesLine is "moves: 3 done, 2 in flight, 11 queued".
func movesLine(st *pb.StatusResponse) string {
	return fmt.Sprintf("moves: %d done, %d in flight, %d queued", st.GetMovesDone(), len(st.GetInFlight()), len(st.GetQueued()))
}

// progressLine is movesLine, plus what else --wait is waiting for.
func progressLine(st *pb.StatusResponse, name string) string {
	line := movesLine(st)
	if st.GetGroupsKnown() < st.GetGroups() {
		line += fmt.Sprintf(", %d of %d groups known", st.GetGroupsKnown(), st.GetGroups())
	}
	if n := findNode(st, name); n != nil {
		line += fmt.Sprintf("; %s %s with %d %s", name, n.GetMember().GetState(), n.GetReplicas(),
			plural(int(n.GetReplicas()), "replica", "replicas"))
	}
	return line
}

// writeStatus prints st as tables; now dates LAST-HEARD.
func writeStatus(w io.Writer, st *pb.StatusResponse, now time.Time) {
	fmt.Fprintf(w, "meta leader: %s\n", orDash(st.GetMetaLeader()))
	fmt.Fprintf(w, "epoch: %d\n", st.GetEpoch())
	fmt.Fprintf(w, "groups: %d, %d known, %d under-replicated\n", st.GetGroups(), st.GetGroupsKnown(), st.GetUnderReplicated())
	if r := st.GetPlacementRelaxed(); r != "" && r != "none" {
		fmt.Fprintf(w, "placement relaxed: %s\n", r)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tZONE\tCAPACITY\tREPLICAS\tTARGET\tCAP\tLEADERS\tLAST-HEARD")
	for _, n := range st.GetNodes() {
		m := n.GetMember()
		capacity := m.GetCapacity()
		if capacity == 0 {
			capacity = 1 // the proto's zero means 1
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", m.GetName(), orDash(m.GetState()), orDash(m.GetZone()),
			strconv.FormatFloat(capacity, 'g', -1, 64), n.GetReplicas(), n.GetTargetReplicas(), n.GetCap(), n.GetLeaders(),
			lastHeard(n.GetLastHeardUnixNanos(), now))
	}
	_ = tw.Flush()
	fmt.Fprintln(w, movesLine(st))
	for _, m := range st.GetInFlight() {
		fmt.Fprintf(w, "  %s\n", moveText(m))
	}
}

// lastHeard is the age of a unix-nanosecond time: "1.2s ago", "3m4s ago",
// or "-" for 0 (not heard since this meta leader started).
func lastHeard(unixNanos int64, now time.Time) string {
	if unixNanos == 0 {
		return "-"
	}
	d := max(now.Sub(time.Unix(0, unixNanos)), 0) // clocks differ between nodes
	if d < time.Minute {
		return fmt.Sprintf("%.1fs ago", d.Seconds())
	}
	return d.Round(time.Second).String() + " ago"
}

// writeMoves prints a dry run's moves: "would move N replicas:" and one
// line per move.
func writeMoves(w io.Writer, moves []*pb.Move) {
	fmt.Fprintf(w, "would move %d %s", len(moves), plural(len(moves), "replica", "replicas"))
	if len(moves) == 0 {
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintln(w, ":")
	for _, m := range moves {
		fmt.Fprintf(w, "  %s\n", moveText(m))
	}
}

// moveText is "partition 7 (group 8): add n4, remove n2"; the meta group
// (partition -1) is "meta group: ...".
func moveText(m *pb.Move) string {
	where := fmt.Sprintf("partition %d (group %d)", m.GetPartition(), m.GetGroup())
	if m.GetPartition() < 0 {
		where = "meta group"
	}
	var steps []string
	if a := m.GetAdd(); a != "" {
		steps = append(steps, "add "+a)
	}
	if r := m.GetRemove(); r != "" {
		steps = append(steps, "remove "+r)
	}
	return where + ": " + strings.Join(steps, ", ")
}

// writeProtoJSON prints m as one line of JSON with the .proto's field
// names, zero fields included so that scripts find every field.
func writeProtoJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
