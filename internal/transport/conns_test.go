package transport

import (
	"errors"
	"testing"
)

func TestConns(t *testing.T) {
	addrs := map[string]string{"n1": "127.0.0.1:1", "n2": "127.0.0.1:2", "alias": "127.0.0.1:1"}
	c := NewConns(func(node string) (string, bool) { a, ok := addrs[node]; return a, ok }, DialOptions())
	a, err := c.Get("n1")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := c.Get("n1"); again != a {
		t.Fatal("a second Get made a second connection")
	}
	if same, _ := c.Get("alias"); same != a {
		t.Fatal("two names of one address got two connections")
	}
	if b, _ := c.Get("n2"); b == a {
		t.Fatal("two addresses share a connection")
	}
	if _, err := c.Get("n9"); err == nil {
		t.Fatal("a node with no address got a connection")
	}
	c.Close()
	if _, err := c.Get("n1"); !errors.Is(err, ErrConnsClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
}
