package bench

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Reference is the bare token handler the real endpoint is measured
// against: it parses Basic auth and the form, does one HMAC-SHA-256 check
// and one Ed25519 JWT signature, and writes the JSON. It has no store, no
// protocol library, no metrics: the ceiling on this machine.
type Reference struct {
	ClientID string
	hash     []byte
	key      []byte
	priv     ed25519.PrivateKey
}

// NewReference returns a reference handler accepting clientID/secret.
func NewReference(clientID, secret string) *Reference {
	r := &Reference{ClientID: clientID, key: make([]byte, 32)}
	_, _ = rand.Read(r.key)
	r.hash = r.mac(secret)
	_, r.priv, _ = ed25519.GenerateKey(rand.Reader)
	return r
}

func (r *Reference) mac(s string) []byte {
	m := hmac.New(sha256.New, r.key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"ref"}`))

func (r *Reference) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	id, secret, ok := req.BasicAuth()
	if err := req.ParseForm(); err != nil || !ok || req.PostForm.Get("grant_type") != "client_credentials" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	if id != r.ClientID || subtle.ConstantTimeCompare(r.mac(secret), r.hash) != 1 {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{"iss": "ref", "sub": id, "client_id": id, "aud": "ref", "iat": now, "exp": now + 600, "jti": strconv.FormatInt(now, 36)})
	signing := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(claims)
	sig := ed25519.Sign(r.priv, []byte(signing))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": signing + "." + base64.RawURLEncoding.EncodeToString(sig), "token_type": "Bearer", "expires_in": 600,
	})
}
