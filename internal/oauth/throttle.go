package oauth

import (
	"sync"
	"time"
)

// Throttle slows down guessing of a client's secret. Failures are counted
// per client id and source address; after Free failures each further one
// opens a back-off window that doubles up to Max. During the window a wrong
// secret is answered 429 instead of 401.
//
// A right secret is always checked and always accepted, window or not, so
// an attacker hammering a client id cannot lock out the legitimate client
// (the check costs the same either way). Counting per source address as
// well keeps one attacker from slowing down the client's other callers.
type Throttle struct {
	Free int
	Base time.Duration
	Max  time.Duration
	Now  func() time.Time

	mu      sync.Mutex
	entries map[throttleKey]*throttleEntry
}

type throttleKey struct{ clientID, ip string }

type throttleEntry struct {
	failures int
	until    time.Time
}

// NewThrottle returns the defaults: 5 free failures, then 1 s doubling up to 5 min.
func NewThrottle(now func() time.Time) *Throttle {
	return &Throttle{Free: 5, Base: time.Second, Max: 5 * time.Minute, Now: now}
}

// Blocked reports whether key is inside a back-off window, and for how long.
func (t *Throttle) Blocked(k throttleKey) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[k]
	if e == nil {
		return false, 0
	}
	left := e.until.Sub(t.Now())
	return left > 0, left
}

// Fail records a failed attempt.
func (t *Throttle) Fail(k throttleKey) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.entries == nil {
		t.entries = map[throttleKey]*throttleEntry{}
	}
	if len(t.entries) > 100_000 {
		t.sweep()
	}
	e := t.entries[k]
	if e == nil {
		e = &throttleEntry{}
		t.entries[k] = e
	}
	e.failures++
	if over := e.failures - t.Free; over > 0 {
		d := t.Max
		if over < 32 && t.Base<<(over-1) < t.Max {
			d = t.Base << (over - 1)
		}
		e.until = t.Now().Add(d)
	}
}

// Success forgets the failures of key.
func (t *Throttle) Success(k throttleKey) {
	t.mu.Lock()
	if t.entries[k] != nil {
		delete(t.entries, k)
	}
	t.mu.Unlock()
}

// sweep drops entries whose window has passed, bounding memory under a
// spray of client ids.
func (t *Throttle) sweep() {
	now := t.Now()
	for k, e := range t.entries {
		if !e.until.After(now) {
			delete(t.entries, k)
		}
	}
}
