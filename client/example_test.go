package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/cairnkv/cairn/client"
)

// These examples need a running cluster (cairn dev starts one on
// 127.0.0.1:7379-7381), so they are compiled but not run; the package's
// tests run the same calls against an in-process cluster.

func Example() {
	c, err := client.New([]string{"127.0.0.1:7379", "127.0.0.1:7380", "127.0.0.1:7381"}, client.Options{})
	if err != nil {
		log.Fatal(err) // no endpoint answered
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	if _, err := c.Put(ctx, []byte("color"), []byte("blue")); err != nil {
		log.Fatal(err)
	}
	item, found, err := c.Get(ctx, []byte("color"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(item.Value), found)
}

// A write's outcome is one of: done, certainly not applied (retry later),
// unknown (read to find out), or a definite refusal.
func ExampleClient_Incr() {
	c, err := client.New([]string{"127.0.0.1:7379"}, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	n, err := c.Incr(context.Background(), []byte("visits"), 1)
	switch {
	case err == nil:
		fmt.Println("visits:", n)
	case errors.Is(err, client.ErrIndeterminate):
		// Applied once or not at all: the client's own retries could
		// not apply it twice, but a new Incr would count again.
		fmt.Println("unknown; read visits to find out")
	case errors.Is(err, client.ErrNotApplied):
		fmt.Println("not applied; safe to try again")
	case errors.Is(err, client.ErrNotInteger):
		fmt.Println("visits does not hold an integer")
	default:
		log.Fatal(err)
	}
}

// Compare-and-set on the version a read returned.
func ExampleIfVersion() {
	c, err := client.New([]string{"127.0.0.1:7379"}, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	key := []byte("config")
	for {
		item, _, err := c.Get(ctx, key) // version 0 when absent
		if err != nil {
			log.Fatal(err)
		}
		next := append(item.Value, '+')
		_, err = c.Put(ctx, key, next, client.IfVersion(item.Version))
		if errors.Is(err, client.ErrConditionFailed) {
			continue // someone wrote in between: read again
		}
		if err != nil {
			log.Fatal(err)
		}
		return
	}
}

// Follower reads spread over the replicas and are still linearizable;
// stale reads skip the leader entirely.
func ExampleWithReadMode() {
	c, err := client.New([]string{"127.0.0.1:7379"}, client.Options{Balance: "p2c"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, _, err := c.Get(ctx, []byte("color"), client.WithReadMode(client.Follower)); err != nil {
		log.Fatal(err)
	}
	if _, _, err := c.Get(ctx, []byte("color"), client.WithReadMode(client.Stale)); err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_Scan() {
	c, err := client.New([]string{"127.0.0.1:7379"}, client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	err = c.Scan(context.Background(), client.Range{Prefix: []byte("user/")}, func(kv client.KeyValue) error {
		fmt.Printf("%s = %s\n", kv.Key, kv.Value)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}
