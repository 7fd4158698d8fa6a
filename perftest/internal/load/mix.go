package load

import (
	"math/rand/v2"
	"sync"
)

type op uint8

const (
	opList op = iota
	opGet
	opCreate
	opUpdate
	opDelete
	numOps
)

var opNames = [numOps]string{"list", "get", "create", "update", "delete"}

// OpNames are the operations of the mix, in the order reports list them.
var OpNames = opNames[:]

func (o op) String() string { return opNames[o] }

// chooser draws operations by weight.
type chooser struct {
	cum   [numOps]int
	total int
}

func newChooser(m Mix) chooser {
	var c chooser
	for i, w := range [numOps]int{m.List, m.Get, m.Create, m.Update, m.Delete} {
		c.total += w
		c.cum[i] = c.total
	}
	return c
}

func (c *chooser) pick(r *rand.Rand) op {
	n := r.IntN(c.total)
	for i, limit := range c.cum {
		if n < limit {
			return op(i)
		}
	}
	return opCreate // unreachable: n < total == cum[last]
}

// task is a known task, with the strings its requests need built once.
type task struct {
	path  string // "/tasks/<id>"
	after string // "limit=20&after=<id>"
}

// idPoolSize bounds the known ids; beyond it a new id replaces a random one.
const idPoolSize = 8192

// idPool holds tasks this run created and has not deleted.
type idPool struct {
	mu    sync.Mutex
	tasks []task
}

func newIDPool() *idPool { return &idPool{tasks: make([]task, 0, idPoolSize)} }

// add remembers t; rnd picks the slot to reuse once the pool is full.
func (p *idPool) add(t task, rnd uint64) {
	p.mu.Lock()
	if len(p.tasks) < idPoolSize {
		p.tasks = append(p.tasks, t)
	} else {
		p.tasks[rnd%idPoolSize] = t
	}
	p.mu.Unlock()
}

// pick returns a known task chosen by rnd, removing it when take is set.
func (p *idPool) pick(rnd uint64, take bool) (task, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := uint64(len(p.tasks))
	if n == 0 {
		return task{}, false
	}
	i := rnd % n
	t := p.tasks[i]
	if take {
		last := n - 1
		p.tasks[i] = p.tasks[last]
		p.tasks[last] = task{}
		p.tasks = p.tasks[:last]
	}
	return t, true
}

func (p *idPool) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.tasks)
}
