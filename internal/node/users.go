package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnkv/cairn/internal/api"
	"github.com/cairnkv/cairn/internal/auth"
	"github.com/cairnkv/cairn/internal/kv"
	"github.com/cairnkv/cairn/internal/replica"
	"github.com/prometheus/client_golang/prometheus"
)

// authEnabledKey marks, in the meta group, a cluster whose clients must
// log in. It is written after the first admin user, so a cluster never
// requires logins it has no user for.
var authEnabledKey = []byte("auth/enabled")

// usersRefresh is how often a node reads the meta group's user records: a
// removed user or a changed password stops working within about this.
const usersRefresh = time.Second

// users is the node's view of the meta group's users: read every
// usersRefresh (linearizably, through any replica), checked by the doors'
// logins (api.Authenticator).
type users struct {
	n        *Node
	log      *slog.Logger
	hasher   *auth.Hasher
	throttle *auth.Throttle
	failures prometheus.Counter

	// known is false until the first read. Logins are required from the
	// start on a node with TLS or an initial admin password (a cluster with
	// TLS has users: Start refuses to create one without), and on any
	// other once a read finds the marker; never turned off.
	known    atomic.Bool
	required atomic.Bool
	marked   atomic.Bool // the meta group holds authEnabledKey
	mu       sync.Mutex
	byName   map[string]auth.User // guarded by mu
}

func newUsers(n *Node, closed bool) *users {
	u := &users{
		n: n, log: n.log, hasher: auth.NewHasher(0),
		// Five free failures, then 1 s doubling to a minute: a person who
		// mistypes is not slowed; a guesser gets ~60 tries an hour.
		throttle: auth.NewThrottle(n.clock, 5, time.Second, time.Minute),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_auth_failures_total", Help: "Failed logins (bad user or password, or throttled) on every door."}),
		byName: map[string]auth.User{},
	}
	n.registry.MustRegister(u.failures)
	u.required.Store(closed)
	return u
}

// Required implements api.Authenticator.
func (u *users) Required() bool { return u.required.Load() }

// Login implements api.Authenticator.
func (u *users) Login(ctx context.Context, remote, name, password string) (api.Principal, error) {
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
func (u *users) Lookup(name string) (auth.User, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	user, ok := u.byName[name]
	return user, ok
}

// run reads the records every usersRefresh until the node stops; with an
// initial admin password it first makes the admin user and turns logins
// on, if the cluster has not yet.
func (u *users) run(initialPassword string) {
	defer u.n.wg.Done()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), u.n.cfg.RequestTimeout)
		err := u.refresh(ctx)
		if err == nil && initialPassword != "" && !u.marked.Load() {
			if err = u.enable(ctx, initialPassword); err == nil {
				err = u.refresh(ctx)
			}
		}
		cancel()
		if err != nil {
			u.log.Debug("auth: reading the user records", "err", err)
		}
		if !u.n.sleep(usersRefresh) {
			return
		}
	}
}

// refresh reads every record under auth/ from the meta group.
func (u *users) refresh(ctx context.Context) error {
	start := []byte(auth.MetaKeyUserPrefix)
	end := append([]byte(auth.MetaKeyUserPrefix[:len(auth.MetaKeyUserPrefix)-1]), '/'+1)
	byName := map[string]auth.User{}
	for start != nil {
		rep, err := u.n.router.Read(ctx, 0, replica.Linearizable, kv.ScanQuery(start, end, 1000))
		if err != nil {
			return err
		}
		for _, it := range rep.Items {
			user, err := auth.DecodeUser(it.Value)
			if err != nil {
				u.log.Error("auth: a user record does not decode; that user cannot log in", "key", string(it.Key), "err", err)
				continue
			}
			byName[user.Name] = user
		}
		start = rep.Next
	}
	rep, err := u.n.router.Read(ctx, 0, replica.Linearizable, kv.GetQuery(authEnabledKey))
	if err != nil {
		return err
	}
	on := len(rep.Responses) == 1 && rep.Responses[0].Code == kv.CodeOK && rep.Responses[0].HasValue
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
func (u *users) enable(ctx context.Context, password string) error {
	admin := auth.User{Name: "admin", Role: auth.RoleAdmin, Hash: u.hasher.Hash(password)}
	if _, err := u.n.propose(ctx, 0, kv.NewCommand(kv.Put(auth.UserKey(admin.Name), admin.Encode()).IfAbsent())); err != nil {
		return err
	}
	if _, err := u.n.propose(ctx, 0, kv.NewCommand(kv.Put(authEnabledKey, []byte("1")))); err != nil {
		return err
	}
	u.log.Info("auth: logins required from now on; user admin made from --initial-admin-password-file")
	return nil
}

// putUser writes a user's record (admin commands and tests).
func (u *users) putUser(ctx context.Context, user auth.User) error {
	if err := auth.ValidUserName(user.Name); err != nil {
		return err
	}
	_, err := u.n.propose(ctx, 0, kv.NewCommand(kv.Put(auth.UserKey(user.Name), user.Encode())))
	return err
}

// check is the "users" readiness check of a node that requires logins:
// failed until it has read the user records with the cluster's login
// marker (until then every login fails as retryable). Nil on an open node.
func (u *users) check() *api.Check {
	if !u.required.Load() {
		return nil
	}
	if !u.known.Load() || !u.marked.Load() {
		return &api.Check{Name: "users", Reason: "the user records are not read yet; logins answer try-again"}
	}
	return &api.Check{Name: "users", OK: true}
}
