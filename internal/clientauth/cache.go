package clientauth

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// Cache keeps the clients and secrets the token endpoint reads, so that a
// token request normally costs no database read.
//
// Staleness is bounded two ways. Every change made through this instance
// invalidates the client at once (Invalidate, called after commit), so on
// the same instance a revocation or rotation takes effect from the very
// next request. Changes made by another instance are seen once the entry is
// older than TTL, which is therefore the documented worst case across
// instances. Misses are cached too, so that an unknown client costs what a
// known one does (no timing oracle for which client ids exist); a new
// secret's id was never looked up before, so a new secret works at once
// everywhere, and a new client at once on its instance and within TTL on
// the others. Status is always computed from the cached fields and the
// current time, so expiry stays exact.
type Cache struct {
	TTL time.Duration

	mu      sync.RWMutex
	gen     map[string]uint64 // client id → generation, bumped by Invalidate
	all     uint64            // bumped by InvalidateAll
	seq     uint64            // bumped by every invalidation
	clients map[[2]string]entry[watchword.Client]
	secrets map[string]entry[watchword.Secret]
	lists   map[string]entry[[]watchword.Secret]
}

type entry[T any] struct {
	v        T
	missing  bool // the row does not exist
	clientID string
	gen, all uint64
	at       time.Time
}

// NewCache returns a cache whose entries live ttl.
func NewCache(ttl time.Duration) *Cache {
	return &Cache{
		TTL: ttl, gen: map[string]uint64{},
		clients: map[[2]string]entry[watchword.Client]{},
		secrets: map[string]entry[watchword.Secret]{},
		lists:   map[string]entry[[]watchword.Secret]{},
	}
}

// Invalidate drops what is cached about a client and its secrets.
func (c *Cache) Invalidate(clientID string) {
	c.mu.Lock()
	c.gen[clientID]++
	c.seq++
	c.mu.Unlock()
}

// InvalidateAll drops everything (a change that touched many clients).
func (c *Cache) InvalidateAll() {
	c.mu.Lock()
	c.all++
	c.seq++
	c.mu.Unlock()
}

// fresh reports whether e may still be used; the caller holds c.mu.
func fresh[T any](c *Cache, e entry[T], ok bool) bool {
	return ok && e.gen == c.gen[e.clientID] && e.all == c.all && time.Since(e.at) < c.TTL
}

// load returns a value read by read, caching it unless an invalidation
// happened while it was being read: the read may have seen the row from
// before the change that was invalidated, and caching it would hide the
// change until the TTL ran out.
func load[K comparable, T any](c *Cache, m map[K]entry[T], k K, clientOf func(K, T) string, read func() (T, error)) (T, error) {
	c.mu.RLock()
	e, ok := m[k]
	ok = fresh(c, e, ok)
	seq := c.seq
	c.mu.RUnlock()
	if ok && e.missing {
		return e.v, store.ErrNotFound
	} else if ok {
		return e.v, nil
	}
	at := time.Now()
	v, err := read()
	missing := errors.Is(err, store.ErrNotFound)
	if err != nil && !missing {
		return v, err
	}
	c.mu.Lock()
	if c.seq == seq {
		if len(m) >= maxEntries { // bounded under a spray of made-up ids
			clear(m)
		}
		id := clientOf(k, v)
		m[k] = entry[T]{v: v, missing: missing, clientID: id, gen: c.gen[id], all: c.all, at: at}
	}
	c.mu.Unlock()
	return v, err
}

const maxEntries = 100_000

// cachedReader reads through the cache.
type cachedReader struct {
	c *Cache
	r Reader
}

func (cr cachedReader) GetClient(ctx context.Context, domainID, id string) (watchword.Client, error) {
	return load(cr.c, cr.c.clients, [2]string{domainID, id}, func(k [2]string, _ watchword.Client) string { return k[1] },
		func() (watchword.Client, error) { return cr.r.GetClient(ctx, domainID, id) })
}

func (cr cachedReader) GetSecret(ctx context.Context, id string) (watchword.Secret, error) {
	return load(cr.c, cr.c.secrets, id, func(_ string, s watchword.Secret) string { return s.ClientID },
		func() (watchword.Secret, error) { return cr.r.GetSecret(ctx, id) })
}

func (cr cachedReader) ListSecrets(ctx context.Context, clientID string) ([]watchword.Secret, error) {
	return load(cr.c, cr.c.lists, clientID, func(string, []watchword.Secret) string { return clientID },
		func() ([]watchword.Secret, error) { return cr.r.ListSecrets(ctx, clientID) })
}
