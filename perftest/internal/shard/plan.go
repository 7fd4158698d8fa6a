// Package shard defines what one shard of a load run writes and merges the
// results of a run's shards into one, to be evaluated once.
package shard

import (
	"fmt"
	"strconv"
	"strings"
)

// Plan is one shard's part of a run split Count ways, after k6's execution
// segments: arrival k of the global schedule (0-based, in the order of
// intended send times) belongs to shard k mod Count. Every shard keeps the
// global intended send times, so the shards together send the whole schedule,
// each arrival once, and each sends an even share of every stage.
type Plan struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// MaxCount is the most shards a run may be split into: far more pods than a
// load needs, and few enough that what is sized by the count stays small.
const MaxCount = 10_000

// Whole is the plan of a run that is not split.
var Whole = Plan{Index: 0, Count: 1}

// String returns the plan as ParsePlan reads it: "1/3".
func (p Plan) String() string { return strconv.Itoa(p.Index) + "/" + strconv.Itoa(p.Count) }

// Validate says what is wrong with p, or returns nil.
func (p Plan) Validate() error {
	switch {
	case p.Count < 1:
		return fmt.Errorf("count %d: must be at least 1", p.Count)
	case p.Count > MaxCount:
		return fmt.Errorf("count %d: must be at most %d", p.Count, MaxCount)
	case p.Index < 0:
		return fmt.Errorf("index %d: must not be negative", p.Index)
	case p.Index >= p.Count:
		return fmt.Errorf("index %d: must be below the count %d (indices run from 0 to %d)", p.Index, p.Count, p.Count-1)
	}
	return nil
}

// Owns reports whether arrival k of the global schedule is this shard's.
// p must be valid.
func (p Plan) Owns(k uint64) bool { return k%uint64(p.Count) == uint64(p.Index) }

// Share returns how many of the arrivals 0 to total-1 are this shard's:
// total/Count, one more for the first total%Count shards. p must be valid.
func (p Plan) Share(total uint64) uint64 {
	n, c := total/uint64(p.Count), uint64(p.Count)
	if uint64(p.Index) < total%c {
		n++
	}
	return n
}

// ParsePlan reads a plan written as "index/count", as in "0/3" for the
// first of three shards.
func ParsePlan(s string) (Plan, error) {
	is, cs, ok := strings.Cut(s, "/")
	if !ok {
		return Plan{}, fmt.Errorf("shard %q: want index/count, as in 0/3", s)
	}
	index, err1 := strconv.Atoi(is)
	count, err2 := strconv.Atoi(cs)
	if err1 != nil || err2 != nil {
		return Plan{}, fmt.Errorf("shard %q: index and count must be whole numbers, as in 0/3", s)
	}
	p := Plan{Index: index, Count: count}
	if err := p.Validate(); err != nil {
		return Plan{}, fmt.Errorf("shard %q: %w", s, err)
	}
	return p, nil
}
