// Package auth holds who may do what on a secure cluster, as data and
// pure checks the doors and the node call: users with argon2id password
// hashes and one role each (read, readwrite, admin), their records as the
// meta group stores them, a throttle of failed logins per client address,
// and single-use join tokens bound to the cluster ID.
//
//	h := auth.NewHasher(0)                        // bounds concurrent hashing
//	u := auth.User{Name: "alice", Role: auth.RoleReadWrite, Hash: h.Hash(pw)}
//	b := u.Encode()                               // the value at auth.UserKey("alice")
//	ok := h.Verify(u.Hash, attempt)               // constant time; hash a dummy for unknown users
//	u.Role.Allows(auth.PermWrite)
//
//	tok, rec, _ := auth.NewJoinToken(clusterID, time.Hour, now) // print tok; store rec at rec.Key()
//	id, secret, _ := auth.ParseJoinToken(tok)                     // the joiner's token
//	err := rec.Check(clusterID, secret, now)                      // then mark it used
//
// Hashing costs tens of milliseconds and tens of MiB by design, so it runs
// in the door that received the login, never in a state machine's apply,
// and a Hasher lets only a few run at once.
package auth
