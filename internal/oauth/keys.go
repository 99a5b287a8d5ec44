package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/go-jose/go-jose/v4"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// signingKey is a decrypted key ready to sign. Tokens are serialised here
// rather than through go-jose's Signer: its per-call JSON encoding of the
// protected header was a fifth of the token endpoint's cost, and a compact
// JWS is three base64url parts. go-jose still parses and verifies every
// token (introspection, userinfo, the tests), which keeps this honest.
type signingKey struct {
	kid     string
	alg     string
	public  crypto.PublicKey
	private crypto.Signer
	headers map[string]string // by typ ("at+jwt", "JWT"): the encoded protected header and its dot
}

func (k *signingKey) sign(typ string, payload []byte) (string, error) {
	header, ok := k.headers[typ]
	if !ok {
		return "", fmt.Errorf("no JWS header for typ %q", typ)
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(header)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(512))
	buf = append(buf, header...)
	buf = enc.AppendEncode(buf, payload)
	sig, err := k.signature(buf)
	if err != nil {
		return "", err
	}
	buf = append(buf, '.')
	return string(enc.AppendEncode(buf, sig)), nil
}

// signature signs a JWS signing input as RFC 7518 §3 asks for alg.
func (k *signingKey) signature(input []byte) ([]byte, error) {
	switch priv := k.private.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(priv, input), nil
	case *ecdsa.PrivateKey: // ES256: r and s, 32 bytes each, not ASN.1
		h := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, priv, h[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	case *rsa.PrivateKey: // RS256
		h := sha256.Sum256(input)
		return rsa.SignPKCS1v15(nil, priv, crypto.SHA256, h[:])
	}
	return nil, fmt.Errorf("unsupported signing key %T", k.private)
}

// Keys loads, creates and caches the signing keys of each domain. Keys are
// generated on first use and stored encrypted under the server key; once
// created a key never changes, so caching it forever is safe. Several keys
// per domain (a kid each) are kept for later key rotation.
type Keys struct {
	Store  store.Store
	Hasher *secret.Hasher

	mu      sync.Mutex
	byDom   map[string]map[string]*signingKey // domain id → kid → key
	current map[string]map[string]*signingKey // domain id → alg → key
}

// Signer returns the domain's current key for alg, creating it if needed.
func (ks *Keys) Signer(ctx context.Context, domainID, alg string) (*signingKey, error) {
	current := func() *signingKey { return ks.current[domainID][alg] }
	if k, err := ks.find(ctx, domainID, current); k != nil || err != nil {
		return k, err
	}
	err := ks.create(ctx, domainID, alg)
	if err != nil && !errors.Is(err, store.ErrAlreadyExists) { // ErrAlreadyExists: another instance won; load its key
		return nil, err
	}
	if k, err := ks.find(ctx, domainID, current); k != nil || err != nil {
		return k, err
	}
	return nil, fmt.Errorf("no %s signing key for domain %s", alg, domainID)
}

// Public returns the verification key kid of a domain, nil if unknown.
func (ks *Keys) Public(ctx context.Context, domainID, kid string) (*signingKey, error) {
	return ks.find(ctx, domainID, func() *signingKey { return ks.byDom[domainID][kid] })
}

// find returns what get finds in memory, loading the domain's keys from the
// store once if it finds nothing.
func (ks *Keys) find(ctx context.Context, domainID string, get func() *signingKey) (*signingKey, error) {
	ks.mu.Lock()
	k := get()
	ks.mu.Unlock()
	if k != nil {
		return k, nil
	}
	if err := ks.load(ctx, domainID); err != nil {
		return nil, err
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return get(), nil
}

// JWKS returns the domain's public keys, making sure the default ones exist.
func (ks *Keys) JWKS(ctx context.Context, d watchword.Domain) (jose.JSONWebKeySet, error) {
	for _, alg := range []string{d.OAuth.AccessTokenAlg, watchword.AlgRS256} {
		if _, err := ks.Signer(ctx, d.ID, alg); err != nil {
			return jose.JSONWebKeySet{}, err
		}
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, k := range ks.byDom[d.ID] {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.public, KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
	}
	return set, nil
}

func (ks *Keys) load(ctx context.Context, domainID string) error {
	stored, err := ks.Store.ListSigningKeys(ctx, domainID)
	if err != nil {
		return err
	}
	byKid := map[string]*signingKey{}
	current := map[string]*signingKey{}
	for _, sk := range stored {
		k, err := ks.open(sk)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", sk.ID, err)
		}
		byKid[sk.ID] = k
		if sk.RetiredAt == nil {
			current[sk.Alg] = k
		}
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if ks.byDom == nil {
		ks.byDom, ks.current = map[string]map[string]*signingKey{}, map[string]map[string]*signingKey{}
	}
	ks.byDom[domainID], ks.current[domainID] = byKid, current
	return nil
}

func (ks *Keys) open(sk watchword.SigningKey) (*signingKey, error) {
	der, err := ks.Hasher.Open(sk.Private, sk.KeyID, []byte(sk.ID))
	if err != nil {
		return nil, err
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key %T", priv)
	}
	return newSigningKey(sk.ID, sk.Alg, signer)
}

func newSigningKey(kid, alg string, priv crypto.Signer) (*signingKey, error) {
	k := &signingKey{kid: kid, alg: alg, public: priv.Public(), private: priv, headers: map[string]string{}}
	for _, typ := range []string{"at+jwt", "JWT"} {
		h, err := json.Marshal(struct {
			Alg string `json:"alg"`
			Kid string `json:"kid"`
			Typ string `json:"typ"`
		}{alg, kid, typ})
		if err != nil {
			return nil, err
		}
		k.headers[typ] = base64.RawURLEncoding.EncodeToString(h) + "."
	}
	return k, nil
}

func (ks *Keys) create(ctx context.Context, domainID, alg string) error {
	priv, err := generateKey(alg)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return err
	}
	kid := secret.NewID()
	enc, keyID := ks.Hasher.Seal(der, []byte(kid))
	return ks.Store.Tx(ctx, func(tx store.Tx) error {
		return tx.CreateSigningKey(ctx, watchword.SigningKey{
			ID: kid, DomainID: domainID, Alg: alg, Private: enc, KeyID: keyID, Public: pub, CreatedAt: tx.Now(),
		})
	})
}

func generateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case watchword.AlgEdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	case watchword.AlgES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case watchword.AlgRS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
}
