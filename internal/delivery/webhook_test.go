package delivery_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/watchword/watchword/internal/delivery"
	"github.com/watchword/watchword/internal/notify"
)

func MustNewWebhook(tb testing.TB, c delivery.WebhookConfig, opts ...delivery.Option) *delivery.WebhookTarget {
	tb.Helper()
	target, err := delivery.NewWebhook(c, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return target
}

func TestWebhookSuccessSigned(t *testing.T) {
	sig := notify.NewSigningSecret()
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sig, "whsec_"))
	now := time.Unix(1_900_000_000, 0)
	var gotBody []byte
	var gotHeader http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotBody, _ = io.ReadAll(r.Body)
		gotHeader = r.Header.Clone()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	target := MustNewWebhook(t, delivery.WebhookConfig{URL: srv.URL + "/hook", SigningSecret: sig}, delivery.AllowLoopback(), delivery.WithNow(func() time.Time { return now }))
	if err := target.Deliver(t.Context(), newDelivery()); err != nil {
		t.Fatal(err)
	}
	if got, want := gotHeader.Get("webhook-id"), "evt_01"; got != want {
		t.Errorf("webhook-id=%q, want %q", got, want)
	}
	if got, want := gotHeader.Get("webhook-timestamp"), strconv.FormatInt(now.Unix(), 10); got != want {
		t.Errorf("webhook-timestamp=%q, want %q", got, want)
	}
	// Verify independently of notify.Sign.
	m := hmac.New(sha256.New, key)
	m.Write([]byte("evt_01." + strconv.FormatInt(now.Unix(), 10) + "."))
	m.Write(gotBody)
	if got, want := gotHeader.Get("webhook-signature"), "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("webhook-signature=%q, want %q", got, want)
	}
	var msg struct {
		Type string
		Data struct {
			ClientID string `json:"client_id"`
			SecretID string `json:"secret_id"`
			Secret   string `json:"secret"`
		}
	}
	if err := json.Unmarshal(gotBody, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Type != delivery.WebhookEventType || msg.Data.Secret != testSecret || msg.Data.ClientID != "client-1" || msg.Data.SecretID != "0123456789ABCDEF" {
		t.Fatalf("body=%s, want the delivery", gotBody)
	}
}

func TestWebhookFailures(t *testing.T) {
	sig := notify.NewSigningSecret()
	echo500 := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(append([]byte("cannot store "), b...)) // echoes the secret
	}
	redirectTo := func(loc string, code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, loc, code) }
	}
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		cfg       delivery.WebhookConfig
		loopback  bool
		want      string
		forbidden bool
	}{
		{"500", echo500, delivery.WebhookConfig{}, true, "HTTP 500 cannot store", false},
		{"redirect to metadata", redirectTo("http://169.254.169.254/latest/meta-data/", http.StatusTemporaryRedirect), delivery.WebhookConfig{}, true, "must use https", false},
		{"redirect to https metadata", redirectTo("https://169.254.169.254/latest/meta-data/", http.StatusTemporaryRedirect), delivery.WebhookConfig{}, true, "cloud metadata", true},
		{"redirect to ipv6 metadata", redirectTo("https://[fd00:ec2::254]/", http.StatusPermanentRedirect), delivery.WebhookConfig{AllowPrivate: true}, true, "cloud metadata", true},
		{"redirect to link-local", redirectTo("https://169.254.10.1/", http.StatusTemporaryRedirect), delivery.WebhookConfig{AllowPrivate: true}, true, "link-local", true},
		{"redirect to private", redirectTo("https://10.9.8.7/", http.StatusTemporaryRedirect), delivery.WebhookConfig{}, true, "private", true},
		{"redirect that drops the body", redirectTo("/elsewhere", http.StatusFound), delivery.WebhookConfig{}, true, "drop the secret", false},
		{"loopback without the test allowance", func(w http.ResponseWriter, r *http.Request) {}, delivery.WebhookConfig{}, false, "loopback", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			cfg := tt.cfg
			cfg.URL, cfg.SigningSecret, cfg.TimeoutSeconds = srv.URL, sig, 5
			var opts []delivery.Option
			if tt.loopback {
				opts = append(opts, delivery.AllowLoopback())
			}
			err := MustNewWebhook(t, cfg, opts...).Deliver(t.Context(), newDelivery())
			MustNotLeak(t, err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err=%v, want it to contain %q", err, tt.want)
			}
			if got := errors.Is(err, delivery.ErrForbiddenAddress); got != tt.forbidden {
				t.Fatalf("errors.Is(err, ErrForbiddenAddress)=%v, want %v (err %v)", got, tt.forbidden, err)
			}
		})
	}
}

// TestWebhookHostnameCheckedAtDial: "localhost" passes the URL rules, but
// the address it resolves to is checked when dialling.
func TestWebhookHostnameCheckedAtDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	err := MustNewWebhook(t, delivery.WebhookConfig{URL: url, SigningSecret: notify.NewSigningSecret()}).Deliver(t.Context(), newDelivery())
	MustNotLeak(t, err)
	if !errors.Is(err, delivery.ErrForbiddenAddress) {
		t.Fatalf("err=%v, want ErrForbiddenAddress", err)
	}
}

func TestWebhookTooManyRedirects(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+"/again", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	err := MustNewWebhook(t, delivery.WebhookConfig{URL: srv.URL, SigningSecret: notify.NewSigningSecret()}, delivery.AllowLoopback()).Deliver(t.Context(), newDelivery())
	MustNotLeak(t, err)
	if !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("err=%v, want a redirect limit error", err)
	}
}

func TestWebhookTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	err := MustNewWebhook(t, delivery.WebhookConfig{URL: srv.URL, SigningSecret: notify.NewSigningSecret(), TimeoutSeconds: 1}, delivery.AllowLoopback()).Deliver(t.Context(), newDelivery())
	MustNotLeak(t, err)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("took %v, want about 1s", elapsed)
	}
}

func TestWebhookRevertSigned(t *testing.T) {
	sig := notify.NewSigningSecret()
	wh, err := standardwebhooks.NewWebhook(sig)
	if err != nil {
		t.Fatal(err)
	}
	type hit struct {
		body   []byte
		header http.Header
	}
	var hits []hit
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hits = append(hits, hit{b, r.Header.Clone()})
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	var target delivery.Reverter = MustNewWebhook(t, delivery.WebhookConfig{URL: srv.URL + "/hook", SigningSecret: sig}, delivery.AllowLoopback())
	prepared, err := target.Prepare(t.Context())
	if err != nil || prepared != nil {
		t.Fatalf("Prepare()=%q, %v; want nil, nil", prepared, err)
	}
	withSecret, withoutSecret := newDelivery(), newDelivery()
	withoutSecret.Secret = ""
	for _, d := range []delivery.Delivery{withSecret, withoutSecret} {
		if err := target.Revert(t.Context(), d, prepared); err != nil {
			t.Fatal(err)
		}
	}
	if len(hits) != 2 {
		t.Fatalf("got %d requests, want 2", len(hits))
	}
	for _, h := range hits {
		// The Standard Webhooks reference library, as notify's tests use.
		if err := wh.Verify(h.body, h.header); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if got, want := h.header.Get("webhook-id"), "evt_01"+delivery.RevertIDSuffix; got != want {
			t.Errorf("webhook-id=%q, want %q", got, want)
		}
		if strings.Contains(string(h.body), testSecret) || strings.Contains(string(h.body), `"secret"`) {
			t.Fatalf("body=%s holds a secret", h.body)
		}
		var msg struct {
			Type string
			Data map[string]string
		}
		if err := json.Unmarshal(h.body, &msg); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"event_id": "evt_01", "domain": "example.com", "client_id": "client-1", "client_name": "Billing", "secret_id": "0123456789ABCDEF"}
		if msg.Type != delivery.WebhookRevokedEventType || !maps.Equal(msg.Data, want) {
			t.Fatalf("body=%s, want type %s and data %v", h.body, delivery.WebhookRevokedEventType, want)
		}
	}
}

func TestWebhookRevertFailures(t *testing.T) {
	sig := notify.NewSigningSecret()
	redirectTo := func(loc string, code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, loc, code) }
	}
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		want      string
		forbidden bool
	}{
		{"500 echoing the secret", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("no, keeping " + testSecret))
		}, "HTTP 500 no, keeping " + delivery.Redacted, false},
		{"redirect to private", redirectTo("https://10.9.8.7/", http.StatusTemporaryRedirect), "private", true},
		{"redirect to metadata", redirectTo("https://169.254.169.254/", http.StatusPermanentRedirect), "cloud metadata", true},
		{"redirect that drops the body", redirectTo("/elsewhere", http.StatusSeeOther), "change the method", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			target := MustNewWebhook(t, delivery.WebhookConfig{URL: srv.URL, SigningSecret: sig, TimeoutSeconds: 5}, delivery.AllowLoopback())
			err := target.Revert(t.Context(), newDelivery(), nil)
			MustNotLeak(t, err)
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err=%v, want it to contain %q", err, tt.want)
			}
			if got := errors.Is(err, delivery.ErrForbiddenAddress); got != tt.forbidden {
				t.Fatalf("errors.Is(err, ErrForbiddenAddress)=%v, want %v (err %v)", got, tt.forbidden, err)
			}
		})
	}
	// The fields a revert needs are still required; the secret is not.
	target := MustNewWebhook(t, delivery.WebhookConfig{URL: "https://hooks.example.com/", SigningSecret: sig})
	if err := target.Revert(t.Context(), delivery.Delivery{}, nil); err == nil || !strings.Contains(err.Error(), "event id is required") || strings.Contains(err.Error(), "secret is required") {
		t.Fatalf("Revert(empty)=%v, want missing ids but not a missing secret", err)
	}
}
