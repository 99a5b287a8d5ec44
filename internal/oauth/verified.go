package oauth

import "sync"

// verifiedTokens remembers access tokens whose signature has verified, so
// that a resource server introspecting the same token on each of its calls
// pays for the signature check once (an Ed25519 verification is most of an
// introspection's cost). Only the signature is remembered: issuer, expiry
// and revocation are checked on every request. Entries are the exact token
// text, so a token that differs in any byte is verified afresh. Signing keys
// are never withdrawn, so a remembered signature stays true.
type verifiedTokens struct {
	max int // 0: remember nothing

	mu sync.Mutex
	m  map[string]verifiedToken
}

type verifiedToken struct {
	domainID string
	claims   accessClaims
}

func (v *verifiedTokens) get(domainID, token string) (accessClaims, bool) {
	if v.max <= 0 {
		return accessClaims{}, false
	}
	v.mu.Lock()
	e, ok := v.m[token]
	v.mu.Unlock()
	return e.claims, ok && e.domainID == domainID
}

// put remembers a verified token. When the cache is full it first drops the
// expired entries; if that frees nothing it drops arbitrary ones down to
// nine tenths, so that the full scan happens at most once per max/10 puts.
func (v *verifiedTokens) put(domainID, token string, c accessClaims, now int64) {
	if v.max <= 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[string]verifiedToken)
	}
	if len(v.m) >= v.max {
		for k, e := range v.m {
			if now >= e.claims.Expiry {
				delete(v.m, k)
			}
		}
		if len(v.m) >= v.max {
			for k := range v.m { // map order is random: arbitrary victims
				if len(v.m) < v.max*9/10 {
					break
				}
				delete(v.m, k)
			}
		}
	}
	v.m[token] = verifiedToken{domainID, c}
}
