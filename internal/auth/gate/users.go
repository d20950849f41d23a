package gate

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/auth"
	"github.com/cairnkv/cairn/internal/clock"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/prometheus/client_golang/prometheus"
)

// Meta is the meta group (group 0) as the gate reads and writes it.
type Meta interface {
	// Read answers q linearizably.
	Read(ctx context.Context, q kv.Query) (kv.Reply, error)
	// Propose applies c.
	Propose(ctx context.Context, c kv.Command) (kv.Reply, error)
}

// Get reads key from m: its value and version, or found false.
func Get(ctx context.Context, m Meta, key []byte) (value []byte, version uint64, found bool, err error) {
	rep, err := m.Read(ctx, kv.GetQuery(key))
	if err != nil {
		return nil, 0, false, err
	}
	if len(rep.Responses) != 1 || rep.Responses[0].Code != kv.CodeOK || !rep.Responses[0].HasValue {
		return nil, 0, false, nil
	}
	r := rep.Responses[0]
	return r.Value, r.Version, true, nil
}

// Scan calls f with every item under prefix (which ends in '/').
func Scan(ctx context.Context, m Meta, prefix string, f func(kv.Item)) error {
	start := []byte(prefix)
	end := append([]byte(prefix[:len(prefix)-1]), '/'+1)
	for start != nil {
		rep, err := m.Read(ctx, kv.ScanQuery(start, end, 1000))
		if err != nil {
			return err
		}
		for _, it := range rep.Items {
			f(it)
		}
		start = rep.Next
	}
	return nil
}

// authEnabledKey marks, in the meta group, a cluster whose clients must
// log in. It is written after the first admin user, so a cluster never
// requires logins it has no user for.
var authEnabledKey = []byte("auth/enabled")

// Refresh is how often Users reads the meta group's user records: a
// removed user or a changed password stops working within about this.
const Refresh = time.Second

// UsersConfig is what Users reads and reports to.
type UsersConfig struct {
	Meta     Meta
	Clock    clock.Clock
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Closed requires logins from the start (a node with TLS or an
	// initial admin password: a cluster with TLS has users).
	Closed bool
	// Timeout bounds one refresh.
	Timeout time.Duration
}

// Users is a node's view of the meta group's users: read every Refresh
// (linearizably, through any replica), checked by the doors' logins
// (api.Authenticator).
type Users struct {
	meta     Meta
	clock    clock.Clock
	timeout  time.Duration
	log      *slog.Logger
	hasher   *auth.Hasher
	throttle *auth.Throttle
	failures prometheus.Counter

	// known is false until the first read. Logins are required from the
	// start on a Closed node, and on any other once a read finds the
	// marker; never turned off.
	known    atomic.Bool
	required atomic.Bool
	marked   atomic.Bool // the meta group holds authEnabledKey
	mu       sync.Mutex
	byName   map[string]auth.User // guarded by mu
}

// NewUsers makes the view and registers cairn_auth_failures_total; Run
// reads the records.
func NewUsers(cfg UsersConfig) *Users {
	u := &Users{
		meta: cfg.Meta, clock: cfg.Clock, timeout: cfg.Timeout, log: cfg.Logger, hasher: auth.NewHasher(0),
		// Five free failures, then 1 s doubling to a minute: a person who
		// mistypes is not slowed; a guesser gets ~60 tries an hour.
		throttle: auth.NewThrottle(cfg.Clock, 5, time.Second, time.Minute),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_auth_failures_total", Help: "Failed logins (bad user or password, or throttled) on every door."}),
		byName: map[string]auth.User{},
	}
	cfg.Registry.MustRegister(u.failures)
	u.required.Store(cfg.Closed)
	return u
}

// Required implements api.Authenticator.
func (u *Users) Required() bool { return u.required.Load() }

// Login implements api.Authenticator.
func (u *Users) Login(ctx context.Context, remote, name, password string) (api.Principal, error) {
	if !u.known.Load() {
		return api.Principal{}, fmt.Errorf("%w: this node has not read the user records yet (is the meta group without a leader?)", replica.ErrNotApplied)
	}
	if wait := u.throttle.Wait(remote); wait > 0 {
		u.failures.Inc()
		return api.Principal{}, api.ErrThrottled
	}
	u.mu.Lock()
	user, ok := u.byName[name]
	u.mu.Unlock()
	hash := user.Hash
	if !ok {
		hash = "" // NB: hashed against a dummy: a miss costs what a hit costs
	}
	match, err := u.hasher.Verify(hash, password)
	if err != nil {
		u.log.Error("auth: a stored password hash does not parse", "user", name, "err", err)
	}
	if !match || !ok {
		u.throttle.Failed(remote)
		u.failures.Inc()
		u.log.Info("auth: failed login", "user", name, "remote", remote)
		return api.Principal{}, api.ErrWrongPass
	}
	u.throttle.Succeeded(remote)
	return api.Principal{User: user.Name, Role: user.Role}, nil
}

// Lookup is a user's current record (a cached login rechecks it).
func (u *Users) Lookup(name string) (auth.User, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	user, ok := u.byName[name]
	return user, ok
}

// List is every user as last read, by name.
func (u *Users) List() []auth.User {
	u.mu.Lock()
	out := make([]auth.User, 0, len(u.byName))
	for _, user := range u.byName {
		out = append(out, user)
	}
	u.mu.Unlock()
	slices.SortFunc(out, func(a, b auth.User) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Hash is password's stored form.
func (u *Users) Hash(password string) string { return u.hasher.Hash(password) }

// Run reads the records every Refresh until stop closes; with an initial
// admin password it first makes the admin user and turns logins on, if
// the cluster has not yet.
func (u *Users) Run(stop <-chan struct{}, initialPassword string) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), u.timeout)
		err := u.Refresh(ctx)
		if err == nil && initialPassword != "" && !u.marked.Load() {
			if err = u.enable(ctx, initialPassword); err == nil {
				err = u.Refresh(ctx)
			}
		}
		cancel()
		if err != nil {
			u.log.Debug("auth: reading the user records", "err", err)
		}
		t := u.clock.NewTicker(Refresh)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C():
			t.Stop()
		}
	}
}

// Refresh reads every record under auth/ from the meta group.
func (u *Users) Refresh(ctx context.Context) error {
	byName := map[string]auth.User{}
	err := Scan(ctx, u.meta, auth.MetaKeyUserPrefix, func(it kv.Item) {
		user, err := auth.DecodeUser(it.Value)
		if err != nil {
			u.log.Error("auth: a user record does not decode; that user cannot log in", "key", string(it.Key), "err", err)
			return
		}
		byName[user.Name] = user
	})
	if err != nil {
		return err
	}
	_, _, on, err := Get(ctx, u.meta, authEnabledKey)
	if err != nil {
		return err
	}
	u.mu.Lock()
	u.byName = byName
	u.mu.Unlock()
	if on {
		u.marked.Store(true)
		// NB: only ever turned on: a node that starts closed (TLS, or an
		// initial password) must not open because it read the meta group
		// before a founder wrote the marker.
		u.required.Store(true)
	}
	u.known.Store(true)
	return nil
}

// enable makes user admin with password (unless an admin user exists)
// and then marks the cluster as requiring logins.
func (u *Users) enable(ctx context.Context, password string) error {
	admin := auth.User{Name: "admin", Role: auth.RoleAdmin, Hash: u.hasher.Hash(password)}
	if _, err := u.meta.Propose(ctx, kv.NewCommand(kv.Put(auth.UserKey(admin.Name), admin.Encode()).IfAbsent())); err != nil {
		return err
	}
	if _, err := u.meta.Propose(ctx, kv.NewCommand(kv.Put(authEnabledKey, []byte("1")))); err != nil {
		return err
	}
	u.log.Info("auth: logins required from now on; user admin made from --initial-admin-password-file")
	return nil
}

// Put writes a user's record (admin commands and tests).
func (u *Users) Put(ctx context.Context, user auth.User) error {
	if err := auth.ValidUserName(user.Name); err != nil {
		return err
	}
	_, err := u.meta.Propose(ctx, kv.NewCommand(kv.Put(auth.UserKey(user.Name), user.Encode())))
	return err
}

// Check is the "users" readiness check of a node that requires logins:
// failed until it has read the user records with the cluster's login
// marker (until then every login fails as retryable). Nil on an open node.
func (u *Users) Check() *api.Check {
	if !u.required.Load() {
		return nil
	}
	if !u.known.Load() || !u.marked.Load() {
		return &api.Check{Name: "users", Reason: "the user records are not read yet; logins answer try-again"}
	}
	return &api.Check{Name: "users", OK: true}
}
