package resp

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/cairnkv/cairn/internal/kv"
)

// cmdCommand is COMMAND, COMMAND COUNT, COMMAND DOCS [name...], COMMAND
// INFO name... and COMMAND LIST.
func cmdCommand(s *Server, c *client, o *op) {
	if len(o.args) == 1 {
		b := appendArray(nil, len(commandTable))
		for _, cmd := range commandTable {
			b = appendCommandInfo(b, cmd)
		}
		o.reply(b)
		return
	}
	switch sub := string(bytes.ToLower(o.args[1])); sub {
	case "count":
		o.reply(appendInt(nil, int64(len(commandTable))))
	case "list":
		b := appendArray(nil, len(commandTable))
		for _, cmd := range commandTable {
			b = appendBulkString(b, cmd.name)
		}
		o.reply(b)
	case "info":
		b := appendArray(nil, len(o.args)-2)
		for _, name := range o.args[2:] {
			if cmd := lookup(name); cmd != nil {
				b = appendCommandInfo(b, cmd)
			} else {
				b = append(b, "*-1\r\n"...)
			}
		}
		o.reply(b)
	case "docs":
		cmds := commandTable
		if len(o.args) > 2 {
			cmds = nil
			for _, name := range o.args[2:] {
				if cmd := lookup(name); cmd != nil {
					cmds = append(cmds, cmd)
				}
			}
		}
		b := appendArray(nil, 2*len(cmds))
		for _, cmd := range cmds {
			b = appendBulkString(b, cmd.name)
			b = appendArray(b, 8)
			b = appendBulkString(b, "summary")
			b = appendBulkString(b, cmd.summary)
			b = appendBulkString(b, "since")
			b = appendBulkString(b, "1.0.0")
			b = appendBulkString(b, "group")
			b = appendBulkString(b, cmd.group)
			b = appendBulkString(b, "complexity")
			b = appendBulkString(b, "O(1) per key")
		}
		o.reply(b)
	default:
		o.fail("ERR unknown subcommand '" + string(o.args[1]) + "'. Try COMMAND HELP.")
	}
}

// appendCommandInfo is one COMMAND entry in Redis 7's shape: name, arity,
// flags, first key, last key, step, ACL categories, tips, key specs,
// subcommands.
func appendCommandInfo(b []byte, cmd *command) []byte {
	b = appendArray(b, 10)
	b = appendBulkString(b, cmd.name)
	b = appendInt(b, int64(cmd.arity))
	b = appendArray(b, len(cmd.flags))
	for _, f := range cmd.flags {
		b = appendStatus(b, f)
	}
	b = appendInt(b, int64(cmd.first))
	b = appendInt(b, int64(cmd.last))
	b = appendInt(b, int64(cmd.step))
	b = appendArray(b, 1)
	b = appendStatus(b, "@"+cmd.group)
	b = appendArray(b, 0)
	b = appendArray(b, 0)
	return appendArray(b, 0)
}

// configValues are the settings CONFIG GET reports; anything else
// matches nothing (an empty array, as Redis answers an unknown name).
func (s *Server) configValues() [][2]string {
	l := s.readLimits()
	return [][2]string{
		{"client-query-buffer-limit", fmt.Sprint(l.MaxQueryBuffer)},
		{"databases", "1"},
		{"maxclients", fmt.Sprint(s.door.Max())},
		{"proto-max-bulk-len", fmt.Sprint(l.MaxBulk)},
		{"save", ""},
		{"timeout", fmt.Sprint(int64(s.cfg.IdleTimeout / time.Second))},
	}
}

func cmdConfig(s *Server, c *client, o *op) {
	switch sub := string(bytes.ToLower(o.args[1])); sub {
	case "get":
		if len(o.args) < 3 {
			o.fail(wrongArity("config|get"))
			return
		}
		var pairs []string
		for _, kvp := range s.configValues() {
			for _, pat := range o.args[2:] {
				if kv.Match(bytes.ToLower(pat), []byte(kvp[0])) {
					pairs = append(pairs, kvp[0], kvp[1])
					break
				}
			}
		}
		b := appendArray(nil, len(pairs))
		for _, p := range pairs {
			b = appendBulkString(b, p)
		}
		o.reply(b)
	case "set", "resetstat", "rewrite":
		o.fail("ERR CONFIG " + strings.ToUpper(sub) + " is not supported: Cairn's settings are server flags")
	default:
		o.fail("ERR unknown subcommand '" + string(o.args[1]) + "'. Try CONFIG HELP.")
	}
}

// countParts adds a kv.Count read on every partition.
// countParts has o count every partition's keys (and with expiring, its
// keys that have a deadline).
func (s *Server) countParts(o *op, expiring bool) {
	for p := range s.b.Partitions() {
		o.parts = append(o.parts, &part{p: p, kind: partRead, count: true, countExpiring: expiring})
	}
}

func (o *op) countSum() uint64 {
	var n uint64
	for _, pt := range o.parts {
		n += pt.n
	}
	return n
}

func (o *op) expiringSum() uint64 {
	var n uint64
	for _, pt := range o.parts {
		n += pt.expiring
	}
	return n
}

func cmdDBSize(s *Server, c *client, o *op) {
	s.countParts(o, false)
	o.finish = func(s *Server, o *op) {
		if o.failed(false) {
			return
		}
		o.out = appendInt(o.out[:0], int64(o.countSum()))
	}
}

// cmdFlush is FLUSHALL and FLUSHDB [ASYNC|SYNC]: a FLUSH per partition.
func cmdFlush(s *Server, c *client, o *op) {
	switch {
	case len(o.args) == 1:
	case len(o.args) == 2 && (eq(o.args[1], "async") || eq(o.args[1], "sync")):
	default:
		o.fail(errSyntax)
		return
	}
	for p := range s.b.Partitions() {
		o.parts = append(o.parts, &part{p: p, kind: partWrite, alone: true, reqs: []kv.Request{kv.Flush()}})
	}
	o.finish = func(s *Server, o *op) {
		if o.failed(true) {
			return
		}
		o.out = append(o.out[:0], replyOK...)
	}
}

// infoSections are the sections INFO knows, in Redis's order.
var infoSections = []string{"server", "clients", "replication", "keyspace"}

func cmdInfo(s *Server, c *client, o *op) {
	want := map[string]bool{}
	if len(o.args) == 1 {
		for _, sec := range infoSections {
			want[sec] = true
		}
	}
	for _, a := range o.args[1:] {
		switch sec := string(bytes.ToLower(a)); sec {
		case "all", "everything", "default":
			for _, sec := range infoSections {
				want[sec] = true
			}
		default:
			want[sec] = true
		}
	}
	if want["keyspace"] {
		s.countParts(o, true)
	}
	o.finish = func(s *Server, o *op) {
		if o.failed(false) {
			return
		}
		var b strings.Builder
		for _, sec := range infoSections {
			if !want[sec] {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("\r\n")
			}
			s.infoSection(&b, sec, o)
		}
		o.out = appendBulkString(o.out[:0], b.String())
	}
}

func (s *Server) infoSection(b *strings.Builder, sec string, o *op) {
	line := func(k string, v any) { fmt.Fprintf(b, "%s:%v\r\n", k, v) }
	switch sec {
	case "server":
		b.WriteString("# Server\r\n")
		// NB: clients gate features on redis_version; 7.0.0 is the
		// release whose string commands and replies this door follows.
		line("redis_version", redisVersion)
		line("redis_mode", "standalone")
		line("cairn_version", s.cfg.Version)
		line("cairn_node", s.cfg.NodeName)
		line("os", runtime.GOOS+" "+runtime.GOARCH)
		line("arch_bits", 64)
		line("go_version", runtime.Version())
		line("process_id", os.Getpid())
		addr := s.cfg.Addr
		if addr == "" && s.Addr() != nil {
			addr = s.Addr().String()
		}
		port := addr
		if i := strings.LastIndexByte(addr, ':'); i >= 0 {
			port = addr[i+1:]
		}
		line("tcp_port", port)
		up := time.Since(s.started)
		line("uptime_in_seconds", int64(up.Seconds()))
		line("uptime_in_days", int64(up.Hours()/24))
	case "clients":
		b.WriteString("# Clients\r\n")
		line("connected_clients", s.clientCount())
		line("blocked_clients", 0)
	case "replication":
		b.WriteString("# Replication\r\n")
		v := s.b.Cluster()
		led, local := 0, 0
		for _, p := range v.Partitions {
			if p.Local != nil {
				local++
				if p.Local.Role == "leader" {
					led++
				}
			}
		}
		// Every node answers for every key (it forwards to the leader), so
		// to a Redis client every node is a master.
		line("role", "master")
		line("connected_slaves", 0)
		line("cairn_partitions", v.Settings.Partitions)
		line("cairn_replicas", v.Settings.Replicas)
		line("cairn_engine", v.Settings.Engine)
		line("cairn_local_replicas", local)
		line("cairn_local_leaders", led)
		line("cairn_nodes", len(v.Nodes))
	case "keyspace":
		b.WriteString("# Keyspace\r\n")
		if n := o.countSum(); n > 0 {
			// NB: avg_ttl stays 0, as Redis reports it before it has sampled.
			fmt.Fprintf(b, "db0:keys=%d,expires=%d,avg_ttl=0\r\n", n, o.expiringSum())
		}
	}
}

// sortedCommandNames is the table's names in order (for docs and tests).
func sortedCommandNames() []string {
	names := make([]string, 0, len(commandTable))
	for _, c := range commandTable {
		names = append(names, c.name)
	}
	sort.Strings(names)
	return names
}
