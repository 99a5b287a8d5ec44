package oauth_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/testenv"
)

// TestBasicEncodings: RFC 6749 §2.3.1 says id and secret are form-encoded
// before base64, but many clients send them as they are. Both forms of a
// custom secret with reserved characters authenticate.
func TestBasicEncodings(t *testing.T) {
	s := testenv.Start(t, "sqlite", testenv.Options{})
	c, _ := mustClient(t, s, "app", watchword.AuthMethodBasic)
	custom := "p+q%41 r/s:t&u=v%zz-0123456789abcdefghijklmnop"
	other := "p+q%41 r/s:t&u=v-0123456789abcdefghijklmnop" // decodes to something else
	for _, v := range []string{custom, other} {
		if _, err := s.Service.AddSecret(s.Ctx, "default", "app", lifecycle.SecretCreate{Value: v}); err != nil {
			t.Fatal(err)
		}
	}
	for name, pair := range map[string]string{
		"form-encoded":                url.QueryEscape(c.ID) + ":" + url.QueryEscape(custom),
		"as sent, not decodable":      c.ID + ":" + custom,
		"as sent, decodable":          c.ID + ":" + other,
		"form-encoded, decodable one": url.QueryEscape(c.ID) + ":" + url.QueryEscape(other),
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.TokenURL("default"), strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(pair)))
			if resp, body := do(t, req); resp.StatusCode != 200 {
				t.Fatalf("status %d %v", resp.StatusCode, body)
			}
		})
	}
}
