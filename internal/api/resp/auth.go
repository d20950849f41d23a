package resp

import (
	"context"
	"errors"
	"strings"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/auth"
)

// Before a connection has logged in on a cluster with users it may send
// only small commands (Redis's limits for unauthenticated clients, its
// CVE-2021-32675 fix): arrays of at most preAuthMaxArray elements and
// bulks of at most preAuthMaxBulk bytes, refused from their headers.
const (
	preAuthMaxArray = 10
	preAuthMaxBulk  = 16 << 10
)

// preAuthLimits narrows lim for a connection not yet logged in.
func preAuthLimits(lim ReadLimits) ReadLimits {
	lim.MaxArray = min(lim.MaxArray, preAuthMaxArray)
	lim.MaxBulk = min(lim.MaxBulk, preAuthMaxBulk)
	lim.MaxInline = min(lim.MaxInline, preAuthMaxBulk)
	return lim
}

// loginRequired says whether c must log in before running commands.
func (s *Server) loginRequired(c *client) bool {
	return !c.authed && s.cfg.Auth != nil && s.cfg.Auth.Required()
}

// principal is who c runs as: its login, or Anonymous on a cluster
// without users.
func (s *Server) principal(c *client) api.Principal {
	if c.authed {
		return c.principal
	}
	return api.Anonymous
}

// permission is what cmd needs: write for commands that write, admin
// for FLUSHALL/FLUSHDB, read for those that read keys; 0 for connection
// commands.
func (cmd *command) permission() auth.Permission {
	switch cmd.name {
	case "flushall", "flushdb":
		return auth.PermAdmin
	case "config":
		return auth.PermRead
	}
	for _, f := range cmd.flags {
		switch f {
		case "write":
			return auth.PermWrite
		case "readonly":
			return auth.PermRead
		}
	}
	return 0
}

// noAuth says whether cmd runs before a login (Redis's no_auth flag).
func (cmd *command) noAuth() bool {
	for _, f := range cmd.flags {
		if f == "no_auth" {
			return true
		}
	}
	return false
}

// redisVersion is the Redis version INFO and HELLO report. NB: clients
// gate features on it.
const redisVersion = "7.0.0"

const (
	errNoAuth    = "NOAUTH Authentication required."
	errWrongPass = "WRONGPASS invalid username-password pair or user is disabled."
	errHelloAuth = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
)

// checkAccess fails o when c may not run cmd: NOAUTH before a login,
// NOPERM for a role without the permission (Redis's words).
func (s *Server) checkAccess(c *client, cmd *command, o *op) bool {
	if s.loginRequired(c) {
		if !cmd.noAuth() {
			o.fail(errNoAuth)
			return false
		}
		return true
	}
	if perm := cmd.permission(); perm != 0 && !s.principal(c).Allows(perm) {
		o.fail("NOPERM User " + s.principal(c).User + " has no permissions to run the '" + cmd.name + "' command")
		return false
	}
	if cmd.permission() == auth.PermAdmin {
		s.log.Info("audit: "+strings.ToUpper(cmd.name), "by", s.principal(c).User, "remote", c.addr)
	}
	return true
}

// login checks user and password for c; "" when it succeeded, else the
// error to answer.
func (s *Server) login(c *client, user, password string) string {
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	p, err := s.cfg.Auth.Login(ctx, hostOf(c.addr), user, password)
	switch {
	case err == nil:
		c.principal, c.authed = p, true
		return ""
	case errors.Is(err, api.ErrWrongPass):
		return errWrongPass
	case errors.Is(err, api.ErrThrottled):
		return "ERR " + err.Error()
	}
	return "TRYAGAIN " + err.Error()
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}

func cmdAuth(s *Server, c *client, o *op) {
	var user, password string
	switch len(o.args) {
	case 2:
		user, password = "default", string(o.args[1])
	case 3:
		user, password = string(o.args[1]), string(o.args[2])
	default:
		o.fail(errSyntax)
		return
	}
	if s.cfg.Auth == nil || !s.cfg.Auth.Required() {
		// A cluster without users: the default user has no password
		// (nopass), as on a Redis without requirepass.
		if len(o.args) == 2 {
			o.fail("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		} else if user == "default" {
			o.reply(replyOK)
		} else {
			o.fail(errWrongPass)
		}
		return
	}
	if msg := s.login(c, user, password); msg != "" {
		o.fail(msg)
		return
	}
	o.reply(replyOK)
}

// cmdHello answers HELLO [2 [AUTH user pass] [SETNAME name]] as Redis 6+
// does in RESP2; any other version is NOPROTO, checked before any
// credential (go-redis sends HELLO 3 first and falls back to AUTH).
func cmdHello(s *Server, c *client, o *op) {
	args := o.args[1:]
	if len(args) > 0 {
		v, ok := parseInt(args[0])
		if !ok {
			o.fail("ERR Protocol version is not an integer or out of range")
			return
		}
		if v != 2 {
			o.fail("NOPROTO sorry, this protocol version is not supported.")
			return
		}
		args = args[1:]
	}
	var name []byte
	setName := false
	for len(args) > 0 {
		switch strings.ToLower(string(args[0])) {
		case "auth":
			if len(args) < 3 {
				o.fail(errSyntaxHello(args[0]))
				return
			}
			if s.cfg.Auth != nil && s.cfg.Auth.Required() {
				if msg := s.login(c, string(args[1]), string(args[2])); msg != "" {
					o.fail(msg)
					return
				}
			} else if string(args[1]) != "default" {
				// As AUTH: without users only the default user exists.
				o.fail(errWrongPass)
				return
			}
			args = args[3:]
		case "setname":
			if len(args) < 2 {
				o.fail(errSyntaxHello(args[0]))
				return
			}
			if !validClientName(args[1]) {
				o.fail("ERR Client names cannot contain spaces, newlines or special characters.")
				return
			}
			name, setName = args[1], true
			args = args[2:]
		default:
			o.fail(errSyntaxHello(args[0]))
			return
		}
	}
	if s.loginRequired(c) {
		o.fail(errHelloAuth)
		return
	}
	if setName {
		c.name = string(name)
	}
	b := appendArray(nil, 14)
	b = appendBulkString(b, "server")
	b = appendBulkString(b, "redis")
	b = appendBulkString(b, "version")
	b = appendBulkString(b, redisVersion)
	b = appendBulkString(b, "proto")
	b = appendInt(b, 2)
	b = appendBulkString(b, "id")
	b = appendInt(b, int64(c.id))
	b = appendBulkString(b, "mode")
	b = appendBulkString(b, "standalone")
	b = appendBulkString(b, "role")
	b = appendBulkString(b, "master")
	b = appendBulkString(b, "modules")
	b = appendArray(b, 0)
	o.reply(b)
}

func errSyntaxHello(opt []byte) string {
	return "ERR Syntax error in HELLO option '" + string(opt) + "'"
}

// cmdACL answers ACL WHOAMI; the rest of ACL is not served (users are
// managed with cairn admin user).
func cmdACL(s *Server, c *client, o *op) {
	if strings.EqualFold(string(o.args[1]), "whoami") && len(o.args) == 2 {
		o.reply(appendBulkString(nil, s.principal(c).User))
		return
	}
	o.fail("ERR unknown subcommand '" + string(o.args[1]) + "'. Try ACL HELP. (Cairn serves ACL WHOAMI; users are managed with cairn admin user.)")
}
