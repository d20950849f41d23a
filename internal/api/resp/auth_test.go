package resp

import (
	"context"
	"strings"
	"testing"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/api/apitest"
	"github.com/cairnkv/cairn/internal/auth"
)

// users is an Authenticator over fixed passwords.
type users map[string]struct {
	pass string
	role auth.Role
}

func (u users) Required() bool { return true }

func (u users) Login(_ context.Context, _, user, pass string) (api.Principal, error) {
	if r, ok := u[user]; ok && r.pass == pass {
		return api.Principal{User: user, Role: r.role}, nil
	}
	return api.Principal{}, api.ErrWrongPass
}

var testUsers = users{
	"reader":  {"r", auth.RoleRead},
	"writer":  {"w", auth.RoleReadWrite},
	"admin":   {"a", auth.RoleAdmin},
	"default": {"d", auth.RoleRead},
}

// Every command × login: what a connection may run before and after AUTH
// or HELLO AUTH, in Redis's words.
func TestAuthCommands(t *testing.T) {
	srv := New(Config{Backend: apitest.New(4), Auth: testUsers})
	defer srv.Close()
	for _, tc := range []struct {
		name  string
		lines []string
		want  string // the last line's reply, up to its first \r\n
	}{
		{"get before auth", []string{"GET k"}, "-NOAUTH Authentication required."},
		{"ping before auth", []string{"PING"}, "-NOAUTH Authentication required."},
		{"acl before auth", []string{"ACL WHOAMI"}, "-NOAUTH Authentication required."},
		{"auth wrong", []string{"AUTH writer x"}, "-WRONGPASS invalid username-password pair or user is disabled."},
		{"auth unknown", []string{"AUTH nobody w"}, "-WRONGPASS invalid username-password pair or user is disabled."},
		{"auth too many args", []string{"AUTH a b c"}, "-ERR syntax error"},
		{"auth default", []string{"AUTH d", "ACL WHOAMI"}, "$7"},
		{"quit before auth", []string{"QUIT"}, "+OK"},
		{"hello 3", []string{"HELLO 3 AUTH writer w"}, "-NOPROTO sorry, this protocol version is not supported."},
		{"hello 2 without auth", []string{"HELLO 2"}, "-NOAUTH HELLO must be called with the client already authenticated"},
		{"hello 2 auth", []string{"HELLO 2 AUTH writer w"}, "*14"},
		{"hello 2 auth wrong", []string{"HELLO 2 AUTH writer x"}, "-WRONGPASS"},
		{"hello then set", []string{"HELLO 2 AUTH writer w SETNAME me", "SET k v"}, "+OK"},
		{"reader get", []string{"AUTH reader r", "GET k"}, "$"},
		{"reader set", []string{"AUTH reader r", "SET k v"}, "-NOPERM User reader has no permissions to run the 'set' command"},
		{"reader del", []string{"AUTH reader r", "DEL k"}, "-NOPERM User reader has no permissions to run the 'del' command"},
		{"writer set", []string{"AUTH writer w", "SET k v"}, "+OK"},
		{"writer flushall", []string{"AUTH writer w", "FLUSHALL"}, "-NOPERM User writer has no permissions to run the 'flushall' command"},
		{"admin flushall", []string{"AUTH admin a", "FLUSHALL"}, "+OK"},
		{"whoami", []string{"AUTH writer w", "ACL WHOAMI"}, "$6"},
		{"acl other", []string{"AUTH admin a", "ACL LIST"}, "-ERR unknown subcommand 'LIST'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.newClient("127.0.0.1:1")
			var out []byte
			for _, l := range tc.lines {
				var args [][]byte
				for _, a := range strings.Fields(l) {
					args = append(args, []byte(a))
				}
				out, _ = srv.run(c, [][][]byte{args}, nil)
			}
			if got := string(out); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("%v: %q, want %q…", tc.lines, got, tc.want)
			}
		})
	}
}

// FuzzAuth feeds arbitrary commands to a connection of a cluster with
// users, before and after a login: every reply is well formed, and no
// command that needs a login runs without one.
func FuzzAuth(f *testing.F) {
	for _, seed := range []string{"AUTH writer w", "AUTH x", "HELLO 2 AUTH reader r SETNAME n", "HELLO 3", "HELLO 2 AUTH",
		"ACL WHOAMI", "ACL", "SET k v", "GET k", "FLUSHALL", "QUIT", "AUTH admin a"} {
		f.Add(seed, "SET k v")
	}
	srv := New(Config{Backend: apitest.New(4), Auth: testUsers})
	f.Cleanup(func() { srv.Close() })
	f.Fuzz(func(t *testing.T, first, second string) {
		c := srv.newClient("127.0.0.1:1")
		for _, line := range []string{first, second} {
			var args [][]byte
			for _, a := range strings.Split(line, " ") {
				args = append(args, []byte(a))
			}
			cmd := lookup(args[0])
			authed := c.authed
			out, _ := srv.run(c, [][][]byte{args}, nil)
			if len(out) == 0 {
				t.Fatal("no reply")
			}
			switch out[0] {
			case '+', '-', ':', '$', '*':
			default:
				t.Fatalf("bad reply %q", out)
			}
			if !authed && cmd != nil && !cmd.noAuth() && !strings.HasPrefix(string(out), "-NOAUTH") {
				t.Fatalf("%q ran before a login: %q", line, out)
			}
		}
	})
}
