package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairnkv/cairn/internal/clock"
)

func TestRoles(t *testing.T) {
	for _, c := range []struct {
		role              Role
		read, write, admn bool
	}{
		{RoleNone, false, false, false},
		{RoleRead, true, false, false},
		{RoleReadWrite, true, true, false},
		{RoleAdmin, true, true, true},
		{Role(9), false, false, false},
	} {
		if c.role.Allows(PermRead) != c.read || c.role.Allows(PermWrite) != c.write || c.role.Allows(PermAdmin) != c.admn {
			t.Errorf("%v: read %v write %v admin %v", c.role, c.role.Allows(PermRead), c.role.Allows(PermWrite), c.role.Allows(PermAdmin))
		}
	}
	for _, name := range []string{"read", "readwrite", "admin"} {
		r, err := ParseRole(name)
		if err != nil || r.String() != name {
			t.Errorf("ParseRole(%q) = %v, %v", name, r, err)
		}
	}
	if _, err := ParseRole("none"); err == nil {
		t.Error(`ParseRole("none") succeeded`)
	}
}

func TestPasswords(t *testing.T) {
	h := NewHasher(2)
	hash := h.Hash("correct horse")
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q: not the PHC argon2id form with OWASP's parameters", hash)
	}
	if h.Hash("correct horse") == hash {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"correct horse": true, "correct hors": false, "": false, strings.Repeat("x", MaxPasswordLen+1): false} {
		if ok, err := h.Verify(hash, pw); ok != want || err != nil {
			t.Errorf("Verify(%.20q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	// An unknown user (no hash) never matches, even the dummy's password.
	if ok, err := h.Verify("", "not a password anyone has"); ok || err != nil {
		t.Errorf("Verify with no hash = %v, %v; want false", ok, err)
	}
	for _, bad := range []string{"plain", "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHRzYWx0$" + strings.Repeat("A", 43),
		"$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHRzYWx0$" + strings.Repeat("A", 43), "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$AAAA"} {
		if _, err := h.Verify(bad, "x"); !errors.Is(err, ErrBadHash) {
			t.Errorf("Verify(%q) = %v, want ErrBadHash", bad, err)
		}
	}
}

func TestUserRecords(t *testing.T) {
	u := User{Name: "alice", Role: RoleReadWrite, Hash: "$argon2id$x"}
	got, err := DecodeUser(u.Encode())
	if err != nil || got != u {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, u)
	}
	if string(UserKey("alice")) != "auth/users/alice" {
		t.Errorf("UserKey = %q", UserKey("alice"))
	}
	for _, bad := range []string{`{"v":2,"name":"a","role":"read"}`, `{"v":1,"name":"a b","role":"read"}`, `{"v":1,"name":"a","role":"root"}`, `nope`} {
		if _, err := DecodeUser([]byte(bad)); err == nil {
			t.Errorf("DecodeUser(%s) succeeded", bad)
		}
	}
	for name, ok := range map[string]bool{"admin": true, "a.b_c-9": true, "": false, "a/b": false, "é": false, strings.Repeat("a", 65): false} {
		if err := ValidUserName(name); (err == nil) != ok {
			t.Errorf("ValidUserName(%q) = %v", name, err)
		}
	}
}

func TestThrottle(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	th := NewThrottle(clk, 3, 100*time.Millisecond, time.Second)
	for range 3 {
		if w := th.Wait("a"); w != 0 {
			t.Fatalf("within the free failures: wait %v", w)
		}
		th.Failed("a")
	}
	// The 4th attempt waits base, then the delay doubles per failure.
	if w := th.Wait("a"); w != 100*time.Millisecond {
		t.Fatalf("after 3 failures: wait %v, want 100ms", w)
	}
	clk.Advance(100 * time.Millisecond)
	if w := th.Wait("a"); w != 0 {
		t.Fatalf("after the delay: wait %v", w)
	}
	th.Failed("a")
	if w := th.Wait("a"); w != 200*time.Millisecond {
		t.Fatalf("after 4 failures: wait %v, want 200ms", w)
	}
	for range 20 {
		th.Failed("a")
	}
	if w := th.Wait("a"); w != time.Second {
		t.Fatalf("many failures: wait %v, want the 1s cap", w)
	}
	if w := th.Wait("b"); w != 0 {
		t.Fatalf("another address waits %v", w)
	}
	th.Succeeded("a")
	if w := th.Wait("a"); w != 0 {
		t.Fatalf("after a success: wait %v", w)
	}
	// Bounded memory.
	for i := range maxAddrs + 50 {
		th.Failed(string(rune(i)))
	}
	if n := len(th.addrs); n > maxAddrs {
		t.Fatalf("%d addresses remembered, want at most %d", n, maxAddrs)
	}
}

func TestJoinTokens(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok, rec, err := NewJoinToken("cluster-a", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	id, secret, err := ParseJoinToken(tok)
	if err != nil || id != rec.ID {
		t.Fatalf("ParseJoinToken: %s, %v; want id %s", id, err, rec.ID)
	}
	if len(secret) != 16 {
		t.Fatalf("secret of %d bytes, want 128 bits", len(secret))
	}
	stored, err := DecodeJoinToken(rec.Encode())
	if err != nil || stored != rec {
		t.Fatalf("record round trip: %+v, %v", stored, err)
	}
	if err := stored.Check("cluster-a", secret, now.Add(time.Minute)); err != nil {
		t.Fatalf("a fresh token: %v", err)
	}
	if err := stored.Check("cluster-b", secret, now); !errors.Is(err, ErrTokenUnknown) {
		t.Errorf("another cluster: %v, want ErrTokenUnknown", err)
	}
	other := append([]byte(nil), secret...)
	other[0] ^= 1
	if err := stored.Check("cluster-a", other, now); !errors.Is(err, ErrTokenUnknown) {
		t.Errorf("a wrong secret: %v", err)
	}
	if err := stored.Check("cluster-a", secret, now.Add(time.Hour)); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("at expiry: %v, want ErrTokenExpired", err)
	}
	stored.Used = true
	if err := stored.Check("cluster-a", secret, now); !errors.Is(err, ErrTokenUsed) {
		t.Errorf("used: %v, want ErrTokenUsed", err)
	}
	for _, bad := range []string{"", "cairn-join1.", "cairn-join1.!!!!", "other." + strings.TrimPrefix(tok, "cairn-join1."), tok[:len(tok)-2]} {
		if _, _, err := ParseJoinToken(bad); !errors.Is(err, ErrTokenMalformed) {
			t.Errorf("ParseJoinToken(%q) = %v", bad, err)
		}
	}
	if _, _, err := NewJoinToken("c", 0, now); err == nil {
		t.Error("a token with no lifetime was made")
	}
}

func FuzzParseJoinToken(f *testing.F) {
	tok, _, _ := NewJoinToken("c", time.Hour, time.Unix(0, 0))
	f.Add(tok)
	f.Add("cairn-join1.AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, err := ParseJoinToken(s)
		if err == nil && (len(id) != 16 || len(secret) != 16) {
			t.Fatalf("ParseJoinToken(%q) = %q, %d bytes", s, id, len(secret))
		}
	})
}
