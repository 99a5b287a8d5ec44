package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"

	"github.com/go-jose/go-jose/v4"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// signingKey is a decrypted key ready to sign, with its JOSE signer.
type signingKey struct {
	kid    string
	alg    string
	public crypto.PublicKey
	signer map[string]jose.Signer // by typ header ("at+jwt", "JWT")
}

func (k *signingKey) sign(typ string, payload []byte) (string, error) {
	jws, err := k.signer[typ].Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
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
	k := &signingKey{kid: sk.ID, alg: sk.Alg, signer: map[string]jose.Signer{}}
	k.public = priv.(crypto.Signer).Public()
	for _, typ := range []string{"at+jwt", "JWT"} {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(sk.Alg), Key: jose.JSONWebKey{Key: priv, KeyID: sk.ID}},
			(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
		if err != nil {
			return nil, err
		}
		k.signer[typ] = s
	}
	return k, nil
}

func (ks *Keys) create(ctx context.Context, domainID, alg string) error {
	var priv crypto.Signer
	var err error
	switch alg {
	case watchword.AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case watchword.AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case watchword.AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return fmt.Errorf("unsupported signing algorithm %q", alg)
	}
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
