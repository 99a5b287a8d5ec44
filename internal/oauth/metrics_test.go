package oauth_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/testenv"
)

// TestMetrics: the admin listener's /metrics counts token requests by grant
// and outcome, failures by internal reason, and secrets by status.
func TestMetrics(t *testing.T) {
	s := testenv.Start(t, "sqlite", testenv.Options{})
	c, sec := mustClient(t, s, "app", watchword.AuthMethodBasic)
	tokenRequest(t, s, c.ID, sec, ccForm(""))
	tokenRequest(t, s, c.ID, wrongSecret(sec), ccForm(""))
	resp, err := http.Get(s.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`watchword_token_requests_total{grant_type="client_credentials",outcome="success"} 1`,
		`watchword_token_requests_total{grant_type="client_credentials",outcome="invalid_client"} 1`,
		`watchword_client_auth_failures_total{reason="wrong_secret"} 1`,
		`watchword_secrets{domain="default",status="active"} 1`,
		`watchword_oauth_request_duration_seconds_count{endpoint="/oauth/token"} 2`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(b), sec) {
		t.Fatal("/metrics holds a secret")
	}
}
