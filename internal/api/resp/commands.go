package resp

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
)

// command is one entry of the command table: what COMMAND reports and
// the handler that plans it.
type command struct {
	name        string
	arity       int // Redis's: n exact, -n at least n
	flags       []string
	first, last int // key positions (last -1: to the end)
	step        int
	group       string
	summary     string
	run         func(s *Server, c *client, o *op)
}

// commandTable is filled in init: its handlers refer to it.
var commandTable []*command

var commandsByName map[string]*command

func init() {
	commandTable = []*command{
		{"acl", -2, []string{"noscript", "loading", "stale"}, 0, 0, 0, "server", "A container for Access List Control commands.", cmdACL},
		{"append", 3, []string{"write", "denyoom", "fast"}, 1, 1, 1, "string", "Appends a string to the value of a key. Creates the key if it doesn't exist.", cmdAppend},
		{"auth", -2, []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, 0, 0, 0, "connection", "Authenticates the connection.", cmdAuth},
		{"client", -2, []string{}, 0, 0, 0, "connection", "A container for client connection commands.", cmdClient},
		{"command", -1, []string{"loading", "stale"}, 0, 0, 0, "server", "Returns detailed information about all commands.", cmdCommand},
		{"config", -2, []string{}, 0, 0, 0, "server", "A container for server configuration commands.", cmdConfig},
		{"dbsize", 1, []string{"readonly", "fast"}, 0, 0, 0, "server", "Returns the number of keys in the database.", cmdDBSize},
		{"decr", 2, []string{"write", "denyoom", "fast"}, 1, 1, 1, "string", "Decrements the integer value of a key by one.", cmdIncrFamily},
		{"decrby", 3, []string{"write", "denyoom", "fast"}, 1, 1, 1, "string", "Decrements a number from the integer value of a key.", cmdIncrFamily},
		{"del", -2, []string{"write"}, 1, -1, 1, "generic", "Deletes one or more keys.", cmdDel},
		{"echo", 2, []string{"loading", "stale", "fast"}, 0, 0, 0, "connection", "Returns the given string.", cmdEcho},
		{"exists", -2, []string{"readonly", "fast"}, 1, -1, 1, "generic", "Determines whether one or more keys exist.", cmdExists},
		{"expire", -3, []string{"write", "fast"}, 1, 1, 1, "generic", "Sets the expiration time of a key in seconds.", cmdExpire},
		{"expireat", -3, []string{"write", "fast"}, 1, 1, 1, "generic", "Sets the expiration time of a key to a Unix timestamp.", cmdExpire},
		{"expiretime", 2, []string{"readonly", "fast"}, 1, 1, 1, "generic", "Returns the expiration time of a key as a Unix timestamp.", cmdTTL},
		{"flushall", -1, []string{"write"}, 0, 0, 0, "server", "Removes all keys from all databases.", cmdFlush},
		{"flushdb", -1, []string{"write"}, 0, 0, 0, "server", "Remove all keys from the current database.", cmdFlush},
		{"get", 2, []string{"readonly", "fast"}, 1, 1, 1, "string", "Returns the string value of a key.", cmdGet},
		{"getdel", 2, []string{"write", "fast"}, 1, 1, 1, "string", "Returns the string value of a key after deleting the key.", cmdGetDel},
		{"getex", -2, []string{"write", "fast"}, 1, 1, 1, "string", "Returns the string value of a key after setting its expiration time.", cmdGetEx},
		{"getset", 3, []string{"write", "denyoom", "fast"}, 1, 1, 1, "string", "Returns the previous string value of a key after setting it to a new value.", cmdGetSet},
		{"hello", -1, []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, 0, 0, 0, "connection", "Handshakes with the Redis server.", cmdHello},
		{"incr", 2, []string{"write", "denyoom", "fast"}, 1, 1, 1, "string", "Increments the integer value of a key by one.", cmdIncrFamily},
		{"incrby", 3, []string{"write", "denyoom", "fast"}, 1, 1, 1, "string", "Increments the integer value of a key by a number.", cmdIncrFamily},
		{"info", -1, []string{"loading", "stale"}, 0, 0, 0, "server", "Returns information and statistics about the server.", cmdInfo},
		{"keys", 2, []string{"readonly"}, 0, 0, 0, "generic", "Returns all key names that match a pattern.", cmdKeys},
		{"mget", -2, []string{"readonly", "fast"}, 1, -1, 1, "string", "Atomically returns the string values of one or more keys.", cmdMGet},
		{"mset", -3, []string{"write", "denyoom"}, 1, -1, 2, "string", "Atomically creates or modifies the string values of one or more keys.", cmdMSet},
		{"msetnx", -3, []string{"write", "denyoom"}, 1, -1, 2, "string", "Atomically modifies the string values of one or more keys only when all keys don't exist.", cmdMSetNX},
		{"persist", 2, []string{"write", "fast"}, 1, 1, 1, "generic", "Removes the expiration time of a key.", cmdPersist},
		{"pexpire", -3, []string{"write", "fast"}, 1, 1, 1, "generic", "Sets the expiration time of a key in milliseconds.", cmdExpire},
		{"pexpireat", -3, []string{"write", "fast"}, 1, 1, 1, "generic", "Sets the expiration time of a key to a Unix milliseconds timestamp.", cmdExpire},
		{"pexpiretime", 2, []string{"readonly", "fast"}, 1, 1, 1, "generic", "Returns the expiration time of a key as a Unix milliseconds timestamp.", cmdTTL},
		{"ping", -1, []string{"fast"}, 0, 0, 0, "connection", "Returns the server's liveliness response.", cmdPing},
		{"psetex", 4, []string{"write", "denyoom"}, 1, 1, 1, "string", "Sets both string value and expiration time in milliseconds of a key.", cmdSetEx},
		{"pttl", 2, []string{"readonly", "fast"}, 1, 1, 1, "generic", "Returns the expiration time in milliseconds of a key.", cmdTTL},
		{"quit", -1, []string{"noscript", "loading", "stale", "fast", "no_auth", "allow_busy"}, 0, 0, 0, "connection", "Closes the connection.", cmdQuit},
		{"scan", -2, []string{"readonly"}, 0, 0, 0, "generic", "Iterates over the key names in the database.", cmdScan},
		{"select", 2, []string{"loading", "stale", "fast"}, 0, 0, 0, "connection", "Changes the selected database.", cmdSelect},
		{"set", -3, []string{"write", "denyoom"}, 1, 1, 1, "string", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", cmdSet},
		{"setex", 4, []string{"write", "denyoom"}, 1, 1, 1, "string", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", cmdSetEx},
		{"setnx", 3, []string{"write", "denyoom", "fast"}, 1, 1, 1, "string", "Set the string value of a key only when the key doesn't exist.", cmdSetNX},
		{"strlen", 2, []string{"readonly", "fast"}, 1, 1, 1, "string", "Returns the length of a string value.", cmdStrlen},
		{"ttl", 2, []string{"readonly", "fast"}, 1, 1, 1, "generic", "Returns the expiration time in seconds of a key.", cmdTTL},
		{"type", 2, []string{"readonly", "fast"}, 1, 1, 1, "generic", "Determines the type of value stored at a key.", cmdType},
		{"unlink", -2, []string{"write", "fast"}, 1, -1, 1, "generic", "Asynchronously deletes one or more keys.", cmdDel},
		{"wait", 3, []string{}, 0, 0, 0, "generic", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.", cmdWait},
	}
	commandsByName = make(map[string]*command, len(commandTable))
	for _, c := range commandTable {
		commandsByName[c.name] = c
	}
}

// lookup finds a command by name, case-insensitively, without allocating.
func lookup(name []byte) *command {
	if len(name) > 16 {
		return nil
	}
	var buf [16]byte
	for i, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	return commandsByName[string(buf[:len(name)])]
}

// plan parses o.args: it renders the reply of a local command or an error
// at once, or adds the parts to execute and the finish that renders them.
func (s *Server) plan(c *client, o *op) {
	if len(o.args) == 0 {
		o.fail("ERR empty command")
		return
	}
	cmd := lookup(o.args[0])
	if cmd == nil {
		o.fail(unknownCommand(o.args))
		return
	}
	o.cmd = cmd
	if !s.checkAccess(c, cmd, o) {
		return
	}
	if (cmd.arity > 0 && len(o.args) != cmd.arity) || len(o.args) < -cmd.arity {
		o.fail(wrongArity(cmd.name))
		return
	}
	cmd.run(s, c, o)
}

// unknownCommand is Redis's text, byte for byte (server.c processCommand).
func unknownCommand(args [][]byte) string {
	var b []byte
	for i := 1; i < len(args) && len(b) < 128; i++ {
		a := args[i]
		if room := 128 - len(b); len(a) > room {
			a = a[:room]
		}
		b = append(b, '\'')
		b = append(b, a...)
		b = append(b, '\'', ' ')
	}
	name := args[0]
	if len(name) > 128 {
		name = name[:128]
	}
	return fmt.Sprintf("ERR unknown command '%s', with args beginning with: %s", name, b)
}

func wrongArity(name string) string {
	return "ERR wrong number of arguments for '" + name + "' command"
}

const (
	errSyntax    = "ERR syntax error"
	errNotInt    = "ERR value is not an integer or out of range"
	errNotIntOvf = "ERR increment or decrement would overflow"
)

func errExpireTime(cmd string) string { return "ERR invalid expire time in '" + cmd + "' command" }

func (o *op) fail(msg string) {
	o.out = appendError(o.out[:0], msg)
	o.done = true
}

func (o *op) reply(b []byte) {
	o.out = append(o.out[:0], b...)
	o.done = true
}

// checkKey checks a key against the limits and renders the error if it
// fails.
func (s *Server) checkKey(o *op, key []byte) bool {
	if err := s.b.Limits().CheckKey(key); err != nil {
		o.fail("ERR " + invalidText(err))
		return false
	}
	return true
}

func (s *Server) checkValue(o *op, v []byte) bool {
	if err := s.b.Limits().CheckValue(v); err != nil {
		o.fail("ERR " + invalidText(err))
		return false
	}
	return true
}

// write adds a write part for key's partition.
func (s *Server) write(o *op, key []byte, reqs ...kv.Request) *part {
	pt := &part{p: s.b.Partition(key), kind: partWrite, reqs: reqs}
	o.parts = append(o.parts, pt)
	return pt
}

// read adds a read part for key's partition.
func (s *Server) read(o *op, key []byte) *part {
	pt := &part{p: s.b.Partition(key), kind: partRead, keys: [][]byte{key}}
	o.parts = append(o.parts, pt)
	return pt
}

// single renders o's error if its only part failed; else it returns the
// part's first response.
func (o *op) single() (*part, bool) {
	if o.failed(true) {
		return nil, false
	}
	return o.parts[0], true
}

// parseInt parses b as Redis's string2ll: an optional '-', digits without a
// leading zero, within int64.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	d := b
	if b[0] == '-' {
		d = b[1:]
	}
	if len(d) == 0 || d[0] < '1' || d[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// --- connection and server commands ----------------------------------------

func cmdPing(s *Server, c *client, o *op) {
	switch len(o.args) {
	case 1:
		o.reply([]byte("+PONG\r\n"))
	case 2:
		o.reply(appendBulk(nil, o.args[1]))
	default:
		o.fail(wrongArity("ping"))
	}
}

func cmdEcho(s *Server, c *client, o *op) { o.reply(appendBulk(nil, o.args[1])) }

func cmdQuit(s *Server, c *client, o *op) {
	o.reply(replyOK)
	o.quit = true
}

func cmdSelect(s *Server, c *client, o *op) {
	n, ok := parseInt(o.args[1])
	switch {
	case !ok || n > math.MaxInt32 || n < math.MinInt32:
		o.fail("ERR value is not an integer or out of range")
	case n != 0:
		o.fail("ERR DB index is out of range")
	default:
		o.reply(replyOK)
	}
}

func cmdClient(s *Server, c *client, o *op) {
	sub := string(bytes.ToLower(o.args[1]))
	switch sub {
	case "id":
		if len(o.args) != 2 {
			o.fail(wrongArity("client|id"))
			return
		}
		o.reply(appendInt(nil, int64(c.id)))
	case "getname":
		if len(o.args) != 2 {
			o.fail(wrongArity("client|getname"))
			return
		}
		if c.name == "" {
			o.reply(replyNull)
			return
		}
		o.reply(appendBulkString(nil, c.name))
	case "setname":
		if len(o.args) != 3 {
			o.fail(wrongArity("client|setname"))
			return
		}
		if !validClientName(o.args[2]) {
			o.fail("ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		c.name = string(o.args[2])
		o.reply(replyOK)
	case "setinfo":
		if len(o.args) != 4 {
			o.fail(wrongArity("client|setinfo"))
			return
		}
		attr := string(bytes.ToLower(o.args[2]))
		if !validClientName(o.args[3]) {
			o.fail("ERR " + attr + " cannot contain spaces, newlines or special characters.")
			return
		}
		switch attr {
		case "lib-name":
			c.libName = string(o.args[3])
		case "lib-ver":
			c.libVer = string(o.args[3])
		default:
			o.fail("ERR Unrecognized option '" + string(o.args[2]) + "'")
			return
		}
		o.reply(replyOK)
	case "info":
		o.reply(appendBulkString(nil, s.clientLine(c)+"\n"))
	case "list":
		s.mu.Lock()
		var b []byte
		for cl := range s.mu.clients {
			b = append(b, s.clientLine(cl)...)
			b = append(b, '\n')
		}
		s.mu.Unlock()
		o.reply(appendBulk(nil, b))
	default:
		o.fail("ERR unknown subcommand '" + string(o.args[1]) + "'. Try CLIENT HELP.")
	}
}

func (s *Server) clientLine(c *client) string {
	return fmt.Sprintf("id=%d addr=%s name=%s age=%d db=0 lib-name=%s lib-ver=%s resp=2",
		c.id, c.addr, c.name, int64(time.Since(c.created).Seconds()), c.libName, c.libVer)
}

// validClientName is Redis's rule: printable ASCII without spaces.
func validClientName(b []byte) bool {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

// --- strings ---------------------------------------------------------------

func cmdGet(s *Server, c *client, o *op) {
	if !s.checkKey(o, o.args[1]) {
		return
	}
	s.read(o, o.args[1])
	o.finish = finishGet
}

func finishGet(s *Server, o *op) {
	pt, ok := o.single()
	if !ok {
		return
	}
	if !pt.found[0] {
		o.out = appendNull(o.out[:0])
		return
	}
	o.out = appendBulk(o.out[:0], pt.items[0].Value)
}

func cmdStrlen(s *Server, c *client, o *op) {
	if !s.checkKey(o, o.args[1]) {
		return
	}
	s.read(o, o.args[1])
	o.finish = func(s *Server, o *op) {
		if pt, ok := o.single(); ok {
			o.out = appendInt(o.out[:0], int64(len(pt.items[0].Value)))
		}
	}
}

func cmdType(s *Server, c *client, o *op) {
	if !s.checkKey(o, o.args[1]) {
		return
	}
	s.read(o, o.args[1])
	o.finish = func(s *Server, o *op) {
		if pt, ok := o.single(); ok {
			if pt.found[0] {
				o.out = appendStatus(o.out[:0], "string")
			} else {
				o.out = appendStatus(o.out[:0], "none")
			}
		}
	}
}

// Options of SET and GETEX (Redis's OBJ_* flags).
const (
	optNX = 1 << iota
	optXX
	optGet
	optKeepTTL
	optPersist
	optEX
	optPX
	optEXAT
	optPXAT
	optExpire = optEX | optPX | optEXAT | optPXAT
)

// parseStringOptions is Redis's parseExtendedStringArgumentsOrReply: it
// reads SET's options (set) or GETEX's from args and returns them with the
// expire argument, or an error text.
func parseStringOptions(args [][]byte, set bool) (flags int, expire []byte, errText string) {
	for j := 0; j < len(args); j++ {
		opt := args[j]
		var next []byte
		if j < len(args)-1 {
			next = args[j+1]
		}
		switch {
		case eq(opt, "nx") && flags&optXX == 0 && set:
			flags |= optNX
		case eq(opt, "xx") && flags&optNX == 0 && set:
			flags |= optXX
		case eq(opt, "get") && set:
			flags |= optGet
		case eq(opt, "keepttl") && flags&(optPersist|optExpire) == 0 && set:
			flags |= optKeepTTL
		case eq(opt, "persist") && !set && flags&(optExpire|optKeepTTL) == 0:
			flags |= optPersist
		case eq(opt, "ex") && flags&(optKeepTTL|optPersist|optEXAT|optPX|optPXAT) == 0 && next != nil:
			flags |= optEX
			expire = next
			j++
		case eq(opt, "px") && flags&(optKeepTTL|optPersist|optEX|optEXAT|optPXAT) == 0 && next != nil:
			flags |= optPX
			expire = next
			j++
		case eq(opt, "exat") && flags&(optKeepTTL|optPersist|optEX|optPX|optPXAT) == 0 && next != nil:
			flags |= optEXAT
			expire = next
			j++
		case eq(opt, "pxat") && flags&(optKeepTTL|optPersist|optEX|optEXAT|optPX) == 0 && next != nil:
			flags |= optPXAT
			expire = next
			j++
		default:
			return 0, nil, errSyntax
		}
	}
	return flags, expire, ""
}

func eq(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		ch := b[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != lower[i] {
			return false
		}
	}
	return true
}

// withExpire applies an EX/PX/EXAT/PXAT option to req, or returns Redis's
// error text. NB: Cairn keeps time in int64 nanoseconds, so the largest TTL
// is about 292 years and the latest deadline the year 2262; beyond them the
// answer is Redis's "invalid expire time" (Redis allows more).
func withExpire(req kv.Request, flags int, arg []byte, cmd string) (kv.Request, string) {
	if flags&optExpire == 0 {
		return req, ""
	}
	n, ok := parseInt(arg)
	if !ok {
		return req, errNotInt
	}
	if n <= 0 {
		return req, errExpireTime(cmd)
	}
	unit := int64(time.Millisecond)
	if flags&(optEX|optEXAT) != 0 {
		unit = int64(time.Second)
	}
	if n > math.MaxInt64/unit {
		return req, errExpireTime(cmd)
	}
	if flags&(optEX|optPX) != 0 {
		return req.WithTTL(time.Duration(n * unit)), ""
	}
	return req.WithDeadline(n * unit), ""
}

func cmdSet(s *Server, c *client, o *op) {
	key, val := o.args[1], o.args[2]
	if !s.checkKey(o, key) || !s.checkValue(o, val) {
		return
	}
	flags, expire, e := parseStringOptions(o.args[3:], true)
	if e != "" {
		o.fail(e)
		return
	}
	req := kv.Put(key, val)
	if req, e = withExpire(req, flags, expire, "set"); e != "" {
		o.fail(e)
		return
	}
	if flags&optNX != 0 {
		req = req.IfAbsent()
	}
	if flags&optXX != 0 {
		req = req.IfExists()
	}
	if flags&optKeepTTL != 0 {
		req = req.KeepTTL()
	}
	if flags&optGet != 0 {
		req = req.ReturnPrev()
	}
	o.flag = flags
	s.write(o, key, req)
	o.finish = finishSet
}

func finishSet(s *Server, o *op) {
	pt, ok := o.single()
	if !ok {
		return
	}
	r := pt.resps[0]
	switch {
	case r.Code == kv.CodeInvalidExpire:
		o.out = appendError(o.out[:0], errExpireTime(o.cmd.name))
	case r.Code != kv.CodeOK && r.Code != kv.CodeConditionFailed:
		o.out = appendError(o.out[:0], r.Code.Message())
	case o.flag&optGet != 0:
		if r.HasValue {
			o.out = appendBulk(o.out[:0], r.Value)
		} else {
			o.out = appendNull(o.out[:0])
		}
	case r.Code == kv.CodeConditionFailed:
		o.out = appendNull(o.out[:0])
	default:
		o.out = append(o.out[:0], replyOK...)
	}
}

func cmdSetNX(s *Server, c *client, o *op) {
	key, val := o.args[1], o.args[2]
	if !s.checkKey(o, key) || !s.checkValue(o, val) {
		return
	}
	s.write(o, key, kv.Put(key, val).IfAbsent())
	o.finish = finishOneIfOK
}

// finishOneIfOK answers 1 when the request applied, 0 when its condition
// failed or the key was missing.
func finishOneIfOK(s *Server, o *op) {
	pt, ok := o.single()
	if !ok {
		return
	}
	switch r := pt.resps[0]; r.Code {
	case kv.CodeOK:
		o.out = append(o.out[:0], replyOne...)
	case kv.CodeConditionFailed, kv.CodeNotFound:
		o.out = append(o.out[:0], replyZero...)
	case kv.CodeInvalidExpire:
		o.out = appendError(o.out[:0], errExpireTime(o.cmd.name))
	default:
		o.out = appendError(o.out[:0], r.Code.Message())
	}
}

// cmdSetEx is SETEX key seconds value and PSETEX key milliseconds value.
func cmdSetEx(s *Server, c *client, o *op) {
	key, val := o.args[1], o.args[3]
	if !s.checkKey(o, key) || !s.checkValue(o, val) {
		return
	}
	flag := optEX
	if o.cmd.name == "psetex" {
		flag = optPX
	}
	req, e := withExpire(kv.Put(key, val), flag, o.args[2], o.cmd.name)
	if e != "" {
		o.fail(e)
		return
	}
	s.write(o, key, req)
	o.finish = finishSet
}

func cmdGetSet(s *Server, c *client, o *op) {
	key, val := o.args[1], o.args[2]
	if !s.checkKey(o, key) || !s.checkValue(o, val) {
		return
	}
	s.write(o, key, kv.Put(key, val).ReturnPrev())
	o.flag = optGet
	o.finish = finishSet
}

func cmdGetDel(s *Server, c *client, o *op) {
	key := o.args[1]
	if !s.checkKey(o, key) {
		return
	}
	s.write(o, key, kv.Delete(key).ReturnPrev())
	o.finish = finishPrev
}

// finishPrev answers the previous value, or nil.
func finishPrev(s *Server, o *op) {
	pt, ok := o.single()
	if !ok {
		return
	}
	r := pt.resps[0]
	switch {
	case r.Code != kv.CodeOK && r.Code != kv.CodeNotFound:
		o.out = appendError(o.out[:0], r.Code.Message())
	case r.HasValue:
		o.out = appendBulk(o.out[:0], r.Value)
	default:
		o.out = appendNull(o.out[:0])
	}
}

// cmdGetEx is GETEX key [EX|PX|EXAT|PXAT|PERSIST]: with an option, one
// EXPIRE or PERSIST that answers the key's value, so kv judges the key and
// its deadline at apply time.
func cmdGetEx(s *Server, c *client, o *op) {
	key := o.args[1]
	if !s.checkKey(o, key) {
		return
	}
	flags, expire, e := parseStringOptions(o.args[2:], false)
	if e != "" {
		o.fail(e)
		return
	}
	req, e := withExpire(kv.Request{Op: kv.OpExpire, Key: key}, flags, expire, "getex")
	if e != "" {
		o.fail(e)
		return
	}
	switch {
	case flags&optPersist != 0:
		req = kv.Persist(key)
	case flags&optExpire == 0:
		s.read(o, key)
		o.finish = finishGet
		return
	}
	s.write(o, key, req.ReturnPrev())
	o.finish = finishGetEx
}

// finishGetEx answers the value GETEX's EXPIRE or PERSIST read, or nil.
func finishGetEx(s *Server, o *op) {
	pt, ok := o.single()
	if !ok {
		return
	}
	r := pt.resps[0]
	switch {
	case r.Code == kv.CodeInvalidExpire:
		o.out = appendError(o.out[:0], errExpireTime("getex"))
	case r.Code != kv.CodeOK && r.Code != kv.CodeNotFound:
		o.out = appendError(o.out[:0], r.Code.Message())
	case r.HasValue:
		o.out = appendBulk(o.out[:0], r.Value)
	default:
		o.out = appendNull(o.out[:0])
	}
}

func cmdAppend(s *Server, c *client, o *op) {
	key, val := o.args[1], o.args[2]
	if !s.checkKey(o, key) || !s.checkValue(o, val) {
		return
	}
	s.write(o, key, kv.Append(key, val))
	o.finish = finishInt
}

// finishInt answers the response's Int.
func finishInt(s *Server, o *op) {
	pt, ok := o.single()
	if !ok {
		return
	}
	r := pt.resps[0]
	if r.Code != kv.CodeOK {
		o.out = appendError(o.out[:0], r.Code.Message())
		return
	}
	o.out = appendInt(o.out[:0], r.Int)
}

// cmdIncrFamily is INCR, INCRBY, DECR and DECRBY.
func cmdIncrFamily(s *Server, c *client, o *op) {
	key := o.args[1]
	if !s.checkKey(o, key) {
		return
	}
	var delta int64 = 1
	if len(o.args) == 3 {
		n, ok := parseInt(o.args[2])
		if !ok {
			o.fail(errNotInt)
			return
		}
		delta = n
	}
	if o.cmd.name == "decr" || o.cmd.name == "decrby" {
		if delta == math.MinInt64 {
			o.fail("ERR decrement would overflow")
			return
		}
		delta = -delta
	}
	s.write(o, key, kv.IncrBy(key, delta))
	o.finish = finishInt
}

// --- multi-key -------------------------------------------------------------

// splitKeys groups the keys args[first], args[first+step], ... by
// partition, in order of first appearance, as parts of kind; a part's idx
// holds the argument positions of its keys.
func (s *Server) splitKeys(o *op, kind partKind, first, step int) bool {
	for i := first; i < len(o.args); i += step {
		key := o.args[i]
		if !s.checkKey(o, key) {
			return false
		}
		p := s.b.Partition(key)
		var pt *part
		for _, q := range o.parts {
			if q.p == p {
				pt = q
				break
			}
		}
		if pt == nil {
			pt = &part{p: p, kind: kind}
			o.parts = append(o.parts, pt)
		}
		pt.idx = append(pt.idx, i)
		if kind == partRead {
			pt.keys = append(pt.keys, key)
		}
	}
	return true
}

func cmdDel(s *Server, c *client, o *op) {
	if !s.splitKeys(o, partWrite, 1, 1) {
		return
	}
	for _, pt := range o.parts {
		for _, i := range pt.idx {
			pt.reqs = append(pt.reqs, kv.Delete(o.args[i]))
		}
	}
	o.finish = func(s *Server, o *op) {
		if o.failed(true) {
			return
		}
		var n int64
		for _, pt := range o.parts {
			for _, r := range pt.resps {
				if r.Code == kv.CodeOK {
					n += r.Int
				}
			}
		}
		o.out = appendInt(o.out[:0], n)
	}
}

func cmdExists(s *Server, c *client, o *op) {
	if !s.splitKeys(o, partRead, 1, 1) {
		return
	}
	o.finish = func(s *Server, o *op) {
		if o.failed(false) {
			return
		}
		var n int64
		for _, pt := range o.parts {
			for _, f := range pt.found {
				if f {
					n++
				}
			}
		}
		o.out = appendInt(o.out[:0], n)
	}
}

func cmdMGet(s *Server, c *client, o *op) {
	if !s.splitKeys(o, partRead, 1, 1) {
		return
	}
	o.finish = func(s *Server, o *op) {
		if o.failed(false) {
			return
		}
		vals := make([]*kv.Item, len(o.args))
		for _, pt := range o.parts {
			for j, i := range pt.idx {
				if pt.found[j] {
					vals[i] = &pt.items[j]
				}
			}
		}
		o.out = appendArray(o.out[:0], len(o.args)-1)
		for _, v := range vals[1:] {
			if v == nil {
				o.out = appendNull(o.out)
			} else {
				o.out = appendBulk(o.out, v.Value)
			}
		}
	}
}

func cmdMSet(s *Server, c *client, o *op) {
	if len(o.args)%2 != 1 {
		o.fail(wrongArity(o.cmd.name))
		return
	}
	if !s.splitKeys(o, partWrite, 1, 2) {
		return
	}
	for _, pt := range o.parts {
		for _, i := range pt.idx {
			if !s.checkValue(o, o.args[i+1]) {
				o.parts = nil
				return
			}
			pt.reqs = append(pt.reqs, kv.Put(o.args[i], o.args[i+1]))
		}
	}
	o.finish = func(s *Server, o *op) {
		if o.failed(true) {
			return
		}
		o.out = append(o.out[:0], replyOK...)
	}
}

// cmdMSetNX is atomic, so all its keys must be in one partition.
func cmdMSetNX(s *Server, c *client, o *op) {
	if len(o.args)%2 != 1 {
		o.fail(wrongArity(o.cmd.name))
		return
	}
	if !s.splitKeys(o, partWrite, 1, 2) {
		return
	}
	if len(o.parts) > 1 {
		o.parts = nil
		o.fail(crossSlot)
		return
	}
	pt := o.parts[0]
	pt.alone, pt.allOrNothing = true, true
	// Redis checks that no key exists, then sets them all: a key given
	// twice takes its last value, so only the last of duplicates is sent.
	last := make(map[string]int, len(pt.idx))
	for _, i := range pt.idx {
		last[string(o.args[i])] = i
	}
	for _, i := range pt.idx {
		if !s.checkValue(o, o.args[i+1]) {
			o.parts = nil
			return
		}
		if last[string(o.args[i])] == i {
			pt.reqs = append(pt.reqs, kv.Put(o.args[i], o.args[i+1]).IfAbsent())
		}
	}
	o.finish = func(s *Server, o *op) {
		pt, ok := o.single()
		if !ok {
			return
		}
		if pt.code == kv.CodeAborted {
			o.out = append(o.out[:0], replyZero...)
			return
		}
		o.out = append(o.out[:0], replyOne...)
	}
}

// --- expiry ----------------------------------------------------------------

// Options of EXPIRE and friends.
const (
	expNX = 1 << iota
	expXX
	expGT
	expLT
)

// cmdExpire is EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT key n [NX|XX|GT|LT].
func cmdExpire(s *Server, c *client, o *op) {
	key := o.args[1]
	if !s.checkKey(o, key) {
		return
	}
	var cond int
	for _, a := range o.args[3:] {
		switch {
		case eq(a, "nx"):
			cond |= expNX
		case eq(a, "xx"):
			cond |= expXX
		case eq(a, "gt"):
			cond |= expGT
		case eq(a, "lt"):
			cond |= expLT
		default:
			o.fail("ERR Unsupported option " + string(a))
			return
		}
	}
	if cond&expNX != 0 && cond&(expXX|expGT|expLT) != 0 {
		o.fail("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if cond&expGT != 0 && cond&expLT != 0 {
		o.fail("ERR GT and LT options at the same time are not compatible")
		return
	}
	n, ok := parseInt(o.args[2])
	if !ok {
		o.fail(errNotInt)
		return
	}
	name := o.cmd.name
	unit := int64(time.Second)
	if name == "pexpire" || name == "pexpireat" {
		unit = int64(time.Millisecond)
	}
	if n > math.MaxInt64/unit || n < math.MinInt64/unit {
		o.fail(errExpireTime(name))
		return
	}
	abs := name == "expireat" || name == "pexpireat"
	var req kv.Request
	if abs {
		req = kv.ExpireAt(key, n*unit)
	} else {
		req = kv.Expire(key, time.Duration(n*unit))
	}
	// NB: the conditions are kv's, judged against the key's deadline when
	// the command applies, by group time.
	if cond&expNX != 0 {
		req = req.IfNoDeadline()
	}
	if cond&expXX != 0 {
		req = req.IfDeadline()
	}
	if cond&expGT != 0 {
		req = req.IfLater()
	}
	if cond&expLT != 0 {
		req = req.IfEarlier()
	}
	s.write(o, key, req)
	o.finish = finishOneIfOK
}

func cmdPersist(s *Server, c *client, o *op) {
	key := o.args[1]
	if !s.checkKey(o, key) {
		return
	}
	s.write(o, key, kv.Persist(key))
	o.finish = func(s *Server, o *op) {
		pt, ok := o.single()
		if !ok {
			return
		}
		if r := pt.resps[0]; r.Code == kv.CodeOK && r.Int == 1 {
			o.out = append(o.out[:0], replyOne...)
		} else {
			o.out = append(o.out[:0], replyZero...)
		}
	}
}

// cmdTTL is TTL, PTTL, EXPIRETIME and PEXPIRETIME: -2 missing, -1 no
// deadline. TTLs are the deadline minus the node's clock (DESIGN.md,
// Expiry); a key past its deadline that the sweep has not deleted yet
// reports 0.
func cmdTTL(s *Server, c *client, o *op) {
	if !s.checkKey(o, o.args[1]) {
		return
	}
	s.read(o, o.args[1])
	o.finish = func(s *Server, o *op) {
		pt, ok := o.single()
		if !ok {
			return
		}
		if !pt.found[0] {
			o.out = appendInt(o.out[:0], -2)
			return
		}
		d := pt.items[0].Deadline
		if d == 0 {
			o.out = appendInt(o.out[:0], -1)
			return
		}
		var v int64
		switch o.cmd.name {
		case "ttl":
			ms := max(0, (d-s.b.Now().UnixNano())/int64(time.Millisecond))
			v = (ms + 500) / 1000
		case "pttl":
			v = max(0, (d-s.b.Now().UnixNano())/int64(time.Millisecond))
		case "expiretime":
			v = d / int64(time.Second)
		case "pexpiretime":
			v = d / int64(time.Millisecond)
		}
		o.out = appendInt(o.out[:0], v)
	}
}
