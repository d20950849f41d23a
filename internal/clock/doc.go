// Package clock holds the Clock interface through which every driver reads
// time, with a real clock, a skewed clock for fault injection and a fake
// clock for tests and the simulation.
//
//	c := clock.NewFake(start)
//	t := c.NewTicker(10 * time.Millisecond)
//	c.Advance(10 * time.Millisecond) // t.C() fires
package clock
