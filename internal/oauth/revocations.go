package oauth

import (
	"context"
	"sync"
	"time"

	"github.com/watchword/watchword/internal/store"
)

// revocations remembers, for a short time, which token ids (jti, family)
// were found not revoked, so that introspecting the same token again costs
// no database read. Revoked answers are never cached: they are final.
// A revocation through this instance clears the memory at once; one made by
// another instance is seen within ttl, like the authentication cache.
type revocations struct {
	ttl  time.Duration
	mu   sync.Mutex
	seq  uint64
	seen map[string]time.Time // id → when it was found not revoked
}

func (r *revocations) isRevoked(ctx context.Context, st store.Reader, ids ...string) (bool, error) {
	r.mu.Lock()
	seq, known := r.seq, true
	for _, id := range ids {
		if at, ok := r.seen[id]; !ok || time.Since(at) >= r.ttl {
			known = false
		}
	}
	r.mu.Unlock()
	if known {
		return false, nil
	}
	at := time.Now()
	revoked, err := st.IsRevoked(ctx, ids...)
	if err != nil || revoked {
		return revoked, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seq == seq { // no revocation raced with the read
		if r.seen == nil || len(r.seen) > 100_000 {
			r.seen = map[string]time.Time{}
		}
		for _, id := range ids {
			r.seen[id] = at
		}
	}
	return false, nil
}

// forget drops everything; called after any revocation on this instance.
func (r *revocations) forget() {
	r.mu.Lock()
	r.seq++
	r.seen = nil
	r.mu.Unlock()
}
