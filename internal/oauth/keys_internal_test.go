package oauth

import (
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/watchword/watchword"
)

// TestSigningKeySign: the JWS that signingKey writes by hand parses and
// verifies with go-jose for every algorithm, with the alg, kid and typ
// headers set, and fails to verify under another key.
func TestSigningKeySign(t *testing.T) {
	for _, alg := range []string{watchword.AlgEdDSA, watchword.AlgES256, watchword.AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			priv, err := generateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			k, err := newSigningKey("kid-1", alg, priv)
			if err != nil {
				t.Fatal(err)
			}
			payload := []byte(`{"sub":"c1","exp":1}`)
			for _, typ := range []string{"at+jwt", "JWT"} {
				tok, err := k.sign(typ, payload)
				if err != nil {
					t.Fatal(err)
				}
				jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
				if err != nil {
					t.Fatal(err)
				}
				h := jws.Signatures[0].Header
				if h.Algorithm != alg || h.KeyID != "kid-1" || h.ExtraHeaders[jose.HeaderType] != typ {
					t.Errorf("header %+v, want alg %s kid kid-1 typ %s", h, alg, typ)
				}
				got, err := jws.Verify(k.public)
				if err != nil {
					t.Fatal(err)
				}
				if !json.Valid(got) || string(got) != string(payload) {
					t.Errorf("payload %s, want %s", got, payload)
				}
				other, _ := generateKey(alg)
				if _, err := jws.Verify(other.Public()); err == nil {
					t.Error("verified under another key")
				}
			}
			if _, err := k.sign("other", payload); err == nil {
				t.Error("signed with an unknown typ")
			}
		})
	}
}
