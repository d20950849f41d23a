package hashring_test

import (
	"fmt"

	"github.com/cairnkv/cairn/internal/hashring"
)

func ExamplePlace() {
	members := []hashring.Member{
		{Name: "node-a", Zone: "east"},
		{Name: "node-b", Zone: "east"},
		{Name: "node-c", Zone: "west"},
		{Name: "node-d", Zone: "west"},
		{Name: "node-e", Zone: "north"},
		{Name: "node-f", Zone: "north"},
	}
	cfg := hashring.Config{Partitions: 64, Replicas: 3}
	pl, err := hashring.Place(members, cfg)
	if err != nil {
		panic(err)
	}
	fmt.Println("partition 0:", pl.Replicas(0))
	fmt.Println("relaxation:", pl.Relaxation())
	for _, n := range pl.Nodes() {
		fmt.Printf("%s: %d replicas (cap %d), %d leaders\n", n.Name, n.Replicas, n.Cap, n.Leaders)
	}

	joined, err := hashring.Place(append(members, hashring.Member{Name: "node-g", Zone: "west"}), cfg)
	if err != nil {
		panic(err)
	}
	mv, err := hashring.Diff(pl, joined)
	if err != nil {
		panic(err)
	}
	fmt.Printf("a join moves %d of %d replicas\n", mv.Added, mv.Replicas)
	// Output:
	// partition 0: [node-d node-e node-a]
	// relaxation: none
	// node-a: 34 replicas (cap 40), 11 leaders
	// node-b: 30 replicas (cap 40), 10 leaders
	// node-c: 27 replicas (cap 40), 10 leaders
	// node-d: 37 replicas (cap 40), 11 leaders
	// node-e: 36 replicas (cap 40), 11 leaders
	// node-f: 28 replicas (cap 40), 11 leaders
	// a join moves 23 of 192 replicas
}
