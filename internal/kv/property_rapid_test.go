package kv

import (
	"testing"

	"pgregory.net/rapid"
)

// The same properties under rapid, which shrinks a failure to a minimal
// case. NB: behind a build tag because go.mod does not require rapid yet;
// once it does, drop the tag: go test -tags rapid ./internal/kv/

type rapidGen struct{ *rapid.T }

func (g rapidGen) Int(name string, lo, hi int) int { return rapid.IntRange(lo, hi).Draw(g.T, name) }
func (g rapidGen) Int64(name string, lo, hi int64) int64 {
	return rapid.Int64Range(lo, hi).Draw(g.T, name)
}
func (g rapidGen) Uint64(name string, lo, hi uint64) uint64 {
	return rapid.Uint64Range(lo, hi).Draw(g.T, name)
}
func (g rapidGen) Bool(name string) bool { return rapid.Bool().Draw(g.T, name) }

func TestRapidMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { propMatchesModel(rapidGen{t}) })
}

func TestRapidDigestDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { propDigestDeterministic(rapidGen{t}) })
}
