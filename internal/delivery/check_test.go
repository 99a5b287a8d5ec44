package delivery_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/delivery"
)

func TestCheck(t *testing.T) {
	status := func(code int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet {
				code = http.StatusMethodNotAllowed
			}
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
		}
	}
	redirectTo := func(loc string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/ok" {
				w.WriteHeader(http.StatusOK)
				return
			}
			http.Redirect(w, r, loc, http.StatusFound)
		}
	}
	loopback := []delivery.Option{delivery.AllowLoopback()}
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		url       string // "" is the test server's
		opts      []delivery.Option
		want      string // "" means pass
		forbidden bool
	}{
		{"200", status(http.StatusOK, "healthy"), "", loopback, "", false},
		{"204", status(http.StatusNoContent, ""), "", loopback, "", false},
		{"redirect to an allowed place", redirectTo("/ok"), "", loopback, "", false},
		{"500 names the status and a sanitized body", status(http.StatusInternalServerError, "db down\x1b[31m\x00!"), "", loopback, "HTTP 500 db down [31m !", false},
		{"404", status(http.StatusNotFound, ""), "", loopback, "HTTP 404", false},
		{"302 without a location", status(http.StatusFound, ""), "", loopback, "HTTP 302", false},
		{"http to a non-loopback host", nil, "http://health.example.com/ok", loopback, "must use https", false},
		{"other scheme", nil, "ftp://health.example.com/", loopback, `scheme "ftp"`, false},
		{"credentials", nil, "https://u:p@health.example.com/", loopback, "credentials", false},
		{"not absolute", nil, "/health", loopback, "absolute URL", false},
		{"private literal", nil, "https://10.1.2.3/health", loopback, "private", true},
		{"metadata literal even with AllowPrivate", nil, "https://169.254.169.254/", []delivery.Option{delivery.AllowPrivate()}, "cloud metadata", true},
		{"link-local v6 literal", nil, "https://[fe80::1]/", []delivery.Option{delivery.AllowPrivate()}, "link-local", true},
		{"loopback without AllowLoopback", status(http.StatusOK, ""), "", nil, "loopback", true},
		{"redirect to http elsewhere", redirectTo("http://health.example.com/"), "", loopback, "must use https", false},
		{"redirect to metadata", redirectTo("https://169.254.169.254/latest/meta-data/"), "", loopback, "cloud metadata", true},
		{"redirect to private", redirectTo("https://10.9.8.7/"), "", loopback, "private", true},
		{"redirect to private allowed, then multicast", redirectTo("https://239.1.2.3/"), "", append([]delivery.Option{delivery.AllowPrivate()}, loopback...), "multicast", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				if url == "" {
					url = srv.URL + "/health"
				}
			}
			opts := append([]delivery.Option{delivery.WithTimeout(5 * time.Second)}, tt.opts...)
			err := delivery.Check(t.Context(), url, opts...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check()=%v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check()=%v, want an error containing %q", err, tt.want)
			}
			if got := errors.Is(err, delivery.ErrForbiddenAddress); got != tt.forbidden {
				t.Fatalf("errors.Is(err, ErrForbiddenAddress)=%v, want %v (err %v)", got, tt.forbidden, err)
			}
		})
	}
}

// TestCheckHostnameCheckedAtDial: "localhost" passes the URL rules, but
// the address it resolves to is checked when dialling.
func TestCheckHostnameCheckedAtDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	if err := delivery.Check(t.Context(), url); !errors.Is(err, delivery.ErrForbiddenAddress) {
		t.Fatalf("Check()=%v, want ErrForbiddenAddress", err)
	}
	if err := delivery.Check(t.Context(), url, delivery.AllowLoopback()); err != nil {
		t.Fatalf("Check(AllowLoopback)=%v, want nil", err)
	}
}

func TestCheckTooManyRedirects(t *testing.T) {
	var hits int
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Redirect(w, r, srv.URL+"/again", http.StatusFound)
	}))
	defer srv.Close()
	err := delivery.Check(t.Context(), srv.URL, delivery.AllowLoopback())
	if err == nil || !strings.Contains(err.Error(), "stopped after 3 redirects") {
		t.Fatalf("Check()=%v, want a redirect limit error", err)
	}
	if hits != 4 { // the request and 3 redirects
		t.Fatalf("server saw %d requests, want 4", hits)
	}
}

func TestCheckTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	err := delivery.Check(t.Context(), srv.URL, delivery.AllowLoopback(), delivery.WithTimeout(300*time.Millisecond))
	if err == nil {
		t.Fatal("Check()=nil, want a timeout")
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Fatalf("took %v, want about 300ms", elapsed)
	}
}
