package load

import (
	"sync"
	"time"
)

// pacing hands the arrivals of a run to its workers; there is no pacer
// goroutine. A worker that is free takes the next arrival itself when it is
// due (up to earlySend ahead); one that is not yet due is waited for by a
// single free worker on its own timer, and the others wait without one.
// Taking an arrival, a worker arms a free one for the arrival after it, so
// that one waits while it is busy. At light load that spares the hand-off
// from a pacer to a worker, a goroutine wake-up and often an OS thread's,
// which cost more CPU than the request itself; at full load a worker coming
// back takes what is due without waking anyone.
type pacing struct {
	r *runner

	mu      sync.Mutex
	d       dealer
	n       uint64        // the next arrival
	at      time.Duration // its intended time, since Start
	ended   bool          // no arrival is left, or the run was stopped
	armed   *worker       // waits on its timer for arrival n; nil for none
	idle    []*worker     // free, waiting without a timer
	orphan  bool          // every worker was busy when arrival n was to be armed
	sent    int64         // in the measured window
	dropped int64         // in the measured window
	// stoppedAt is how far into the plan arrivals were handed out.
	stoppedAt time.Duration
}

func (pc *pacing) init(r *runner) {
	pc.r, pc.d = r, r.dealer()
	pc.advance(0)
}

// advance makes n the next arrival, or ends the run when the plan has none.
func (pc *pacing) advance(n uint64) {
	pc.n = n
	at, ok := pc.r.cfg.pacer.hitTime(n)
	if !ok {
		pc.ended, pc.stoppedAt = true, pc.r.cfg.pacer.Duration()
		return
	}
	pc.at = at
}

// next blocks until w, free, has a request to send, and returns it; false
// once the run has no more for it.
func (pc *pacing) next(w *worker) (job, bool) {
	r := pc.r
	done := r.runCtx.Done()
	for {
		pc.mu.Lock()
		if !pc.ended && r.runCtx.Err() != nil {
			pc.stop(time.Since(r.start))
		}
		if pc.ended {
			pc.mu.Unlock()
			return job{}, false
		}
		now := time.Since(r.start)
		if pc.orphan {
			// Arrivals that came due while every worker was busy are dropped.
			pc.orphan = false
			for !pc.ended && pc.at < now {
				pc.drop()
			}
			if pc.ended {
				pc.wakeAll()
				pc.mu.Unlock()
				return job{}, false
			}
		}
		if pc.at <= now+earlySend {
			j := pc.take()
			pc.arm(now)
			pc.mu.Unlock()
			return j, true
		}
		if pc.armed == nil {
			pc.armed = w
			w.wait.Reset(pc.at - earlySend - now)
		} else {
			pc.idle = append(pc.idle, w)
		}
		pc.mu.Unlock()

		select {
		case <-w.wait.C:
		case <-w.poke:
		case <-done:
		}
		pc.mu.Lock()
		if pc.armed == w {
			pc.armed = nil
		}
		w.wait.Stop()
		pc.mu.Unlock()
	}
}

// take hands out arrival n as a job; pc.mu is held.
func (pc *pacing) take() job {
	r := pc.r
	j := pc.d.deal(pc.n, pc.at)
	sec := min(int(pc.at/time.Second), len(r.seconds)-1)
	inFlight := r.inFlight.Add(1)
	ps := &r.seconds[sec]
	ps.sent.Add(1)
	if inFlight > ps.inFlight.Load() {
		ps.inFlight.Store(inFlight)
	}
	if pc.at >= r.cfg.WarmUp {
		pc.sent++
	}
	pc.advance(pc.n + 1)
	return j
}

// drop counts arrival n as dropped; pc.mu is held. It still draws its
// randomness, so that every later arrival gets its own in every run.
func (pc *pacing) drop() {
	r := pc.r
	pc.d.deal(pc.n, pc.at)
	sec := min(int(pc.at/time.Second), len(r.seconds)-1)
	r.seconds[sec].dropped.Add(1)
	if pc.at >= r.cfg.WarmUp {
		pc.dropped++
	}
	pc.advance(pc.n + 1)
}

// arm makes sure a free worker waits for arrival n, now that the worker
// holding pc.mu is about to be busy; pc.mu is held.
func (pc *pacing) arm(now time.Duration) {
	if pc.ended {
		pc.wakeAll()
		return
	}
	w := pc.armed
	if w == nil {
		k := len(pc.idle)
		if k == 0 {
			pc.orphan = true
			return
		}
		w = pc.idle[k-1]
		pc.idle[k-1] = nil
		pc.idle = pc.idle[:k-1]
		pc.armed = w
	}
	wait := pc.at - earlySend - now
	if wait <= 0 {
		w.wake()
		return
	}
	w.wait.Reset(wait)
}

// stop ends the hand-out at now; pc.mu is held.
func (pc *pacing) stop(now time.Duration) {
	pc.ended, pc.stoppedAt = true, now
	pc.wakeAll()
}

// wakeAll wakes every waiting worker, to see that the run has ended; pc.mu is held.
func (pc *pacing) wakeAll() {
	for _, w := range pc.idle {
		w.wake()
	}
	pc.idle = pc.idle[:0]
	if pc.armed != nil {
		pc.armed.wake()
	}
}
