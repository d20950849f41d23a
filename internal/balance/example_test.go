package balance_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cairnkv/cairn/internal/balance"
)

// A client spreads requests over entry nodes and reports how each went.
func Example() {
	p, err := balance.New("least-outstanding", balance.Options{Source: rand.NewPCG(1, 2)})
	if err != nil {
		panic(err)
	}
	nodes := []string{"n1:7379", "n2:7379", "n3:7379"}

	// Two requests in flight at once go to two different nodes.
	first, _ := p.Pick(nodes)
	second, _ := p.Pick(nodes)
	fmt.Println(first.Name != second.Name)

	// Each Pick is finished exactly once, with the latency the caller
	// measured and the request's error.
	first.Done(2*time.Millisecond, nil)
	second.Done(3*time.Millisecond, errors.New("unavailable"))

	_, ok := p.Pick(nil)
	fmt.Println(ok)
	// Output:
	// true
	// false
}

func ExampleNew() {
	_, err := balance.New("fastest", balance.Options{})
	fmt.Println(err)
	// Output:
	// balance: unknown policy "fastest": use one of random, round-robin, weighted-round-robin, least-outstanding, p2c
}

func ExampleWeightedRoundRobin() {
	p, err := balance.NewWeightedRoundRobin(balance.Options{Weights: map[string]int{"a": 5}})
	if err != nil {
		panic(err)
	}
	for range 7 {
		pk, _ := p.Pick([]string{"a", "b", "c"})
		fmt.Print(pk.Name, " ")
		pk.Done(time.Millisecond, nil)
	}
	fmt.Println()
	// Output:
	// a a b a c a a
}

// p2c learns from the latencies handed to Done: a node five times slower
// than the others soon gets few requests.
func ExampleP2C() {
	p, err := balance.NewP2C(balance.Options{Source: rand.NewPCG(1, 2)})
	if err != nil {
		panic(err)
	}
	nodes := []string{"fast1", "fast2", "slow"}
	latency := map[string]time.Duration{"fast1": time.Millisecond, "fast2": time.Millisecond, "slow": 5 * time.Millisecond}
	count := map[string]int{}
	for range 1000 {
		pk, _ := p.Pick(nodes)
		count[pk.Name]++
		pk.Done(latency[pk.Name], nil) // a real caller measures this
	}
	fmt.Println(count["slow"] < 50)
	// Output:
	// true
}
