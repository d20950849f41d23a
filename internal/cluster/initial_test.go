package cluster

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseInitialCluster(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    []Member
		wantErr string // substring; "" means success
	}{
		{name: "one", in: "n1=127.0.0.1:7379", want: []Member{{Name: "n1", Addr: "127.0.0.1:7379"}}},
		{name: "three in given order", in: "n2=10.0.0.2:7379,n1=10.0.0.1:7379,n3=host3:7379",
			want: []Member{{Name: "n2", Addr: "10.0.0.2:7379"}, {Name: "n1", Addr: "10.0.0.1:7379"}, {Name: "n3", Addr: "host3:7379"}}},
		{name: "spaces trimmed", in: " n1 = 127.0.0.1:1 , n2=127.0.0.1:2 ", want: []Member{{Name: "n1", Addr: "127.0.0.1:1"}, {Name: "n2", Addr: "127.0.0.1:2"}}},
		{name: "ipv6", in: "n1=[::1]:7379", want: []Member{{Name: "n1", Addr: "[::1]:7379"}}},
		{name: "port canonical", in: "n1=h:07379", want: []Member{{Name: "n1", Addr: "h:7379"}}},
		{name: "zone and capacity", in: "n1=h:1;zone=a;capacity=2, n2=h:2;capacity=1",
			want: []Member{{Name: "n1", Addr: "h:1", Zone: "a", Capacity: 2}, {Name: "n2", Addr: "h:2"}}},
		{name: "bad capacity", in: "n1=h:1;capacity=x", wantErr: `capacity "x" is not a number`},
		{name: "capacity out of range", in: "n1=h:1;capacity=0", wantErr: "capacity 0: must be between"},
		{name: "bad zone", in: "n1=h:1;zone=a b", wantErr: `zone "a b"`},
		{name: "unknown option", in: "n1=h:1;rack=3", wantErr: `unknown option "rack=3"`},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "blank", in: "  ", wantErr: "empty"},
		{name: "no equals", in: "n1=127.0.0.1:1,n2", wantErr: `entry 2 "n2": missing '='`},
		{name: "empty entry", in: "n1=127.0.0.1:1,,n2=127.0.0.1:2", wantErr: "entry 2"},
		{name: "empty name", in: "=127.0.0.1:1", wantErr: "empty node name"},
		{name: "bad name", in: "n/1=127.0.0.1:1", wantErr: "'/' is not allowed"},
		{name: "long name", in: strings.Repeat("a", 65) + "=h:1", wantErr: "longer than 64"},
		{name: "no port", in: "n1=127.0.0.1", wantErr: "want host:port"},
		{name: "no host", in: "n1=:7379", wantErr: "no host"},
		{name: "port zero", in: "n1=h:0", wantErr: "port must be 1-65535"},
		{name: "port text", in: "n1=h:http", wantErr: "port must be 1-65535"},
		{name: "duplicate name", in: "n1=h:1,n2=h:2,n1=h:3", wantErr: `duplicate name "n1" (entries 1 and 3)`},
		{name: "duplicate address", in: "n1=h:1,n2=h:1", wantErr: `duplicate address h:1 (entries 1 "n1" and 2 "n2")`},
		{name: "duplicate address after canonical form", in: "n1=h:1,n2=h:01", wantErr: "duplicate address h:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseInitialCluster(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseInitialCluster(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				if !errors.Is(err, ErrInitialCluster) {
					t.Fatalf("error %v does not wrap ErrInitialCluster", err)
				}
				if !strings.Contains(err.Error(), "--initial-cluster") {
					t.Fatalf("error %q does not name the flag", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseInitialCluster(%q): %v", tc.in, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ParseInitialCluster(%q) = %v, want %v", tc.in, got, tc.want)
			}
			again, err := ParseInitialCluster(FormatInitialCluster(got))
			if err != nil || !slices.Equal(again, got) {
				t.Fatalf("round trip through FormatInitialCluster: %v, %v", again, err)
			}
		})
	}
}

func TestDefaultInitialCluster(t *testing.T) {
	got := DefaultInitialCluster("n1", "127.0.0.1:7379")
	if want := []Member{{Name: "n1", Addr: "127.0.0.1:7379"}}; !slices.Equal(got, want) {
		t.Fatalf("DefaultInitialCluster = %v, want %v", got, want)
	}
}

func TestClusterID(t *testing.T) {
	abc := []Member{{Name: "a", Addr: "h:1"}, {Name: "b", Addr: "h:2"}, {Name: "c", Addr: "h:3"}}
	base := ClusterID(abc, "cairn")
	for _, tc := range []struct {
		name    string
		members []Member
		token   string
		same    bool
	}{
		{name: "same input", members: abc, token: "cairn", same: true},
		{name: "other order", members: []Member{{Name: "c", Addr: "h:3"}, {Name: "a", Addr: "h:1"}, {Name: "b", Addr: "h:2"}}, token: "cairn", same: true},
		{name: "other token", members: abc, token: "cairn2"},
		{name: "empty token", members: abc, token: ""},
		{name: "other address", members: []Member{{Name: "a", Addr: "h:1"}, {Name: "b", Addr: "h:2"}, {Name: "c", Addr: "h:4"}}, token: "cairn"},
		{name: "other name", members: []Member{{Name: "a", Addr: "h:1"}, {Name: "b", Addr: "h:2"}, {Name: "d", Addr: "h:3"}}, token: "cairn"},
		{name: "fewer members", members: abc[:2], token: "cairn"},
		{name: "token and member boundary", members: []Member{{Name: "b", Addr: "h:2"}, {Name: "c", Addr: "h:3"}}, token: "cairna=h:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ClusterID(tc.members, tc.token)
			if (got == base) != tc.same {
				t.Fatalf("ClusterID(%v, %q) = %s, base %s; want same=%v", tc.members, tc.token, got, base, tc.same)
			}
		})
	}
	t.Run("string round trip", func(t *testing.T) {
		s := base.String()
		if len(s) != 32 || strings.ToLower(s) != s {
			t.Fatalf("String() = %q, want 32 lower-case hex digits", s)
		}
		back, err := ParseID(s)
		if err != nil || back != base {
			t.Fatalf("ParseID(%q) = %s, %v", s, back, err)
		}
		for _, bad := range []string{"", "xyz", s[:31], s + "0", strings.Repeat("g", 32)} {
			if _, err := ParseID(bad); err == nil {
				t.Fatalf("ParseID(%q) succeeded", bad)
			}
		}
	})
	t.Run("assignable to [16]byte", func(t *testing.T) {
		var raw [16]byte = base // what transport.Config.ClusterID takes
		if ID(raw) != base {
			t.Fatal("conversion changed the ID")
		}
	})
}
