package bench_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/bench"
)

// TestRunCountsAndClassifies runs the generator against a reference handler
// that accepts one client and refuses another, and checks what it reports.
func TestRunCountsAndClassifies(t *testing.T) {
	srv := httptest.NewServer(bench.NewReference("c", "s"))
	defer srv.Close()
	build := func(secret string) bench.Request {
		return func(int, int) (*http.Request, error) {
			req, err := http.NewRequest("POST", srv.URL+"/token", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("c", secret)
			return req, err
		}
	}
	opts := bench.Options{Connections: 4, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond}
	ok, err := bench.Run(context.Background(), "ok", opts, build("s"))
	if err != nil {
		t.Fatal(err)
	}
	if ok.Requests < 50 || len(ok.NonOK) != 0 || ok.P50 <= 0 || ok.P99 < ok.P50 || ok.P999 < ok.P99 {
		t.Fatalf("report=%+v", ok)
	}
	bad, err := bench.Run(context.Background(), "bad", opts, build("wrong"))
	if err != nil {
		t.Fatal(err)
	}
	if bad.NonOK[401] != bad.Requests || !strings.Contains(bad.Samples[401], "invalid_client") {
		t.Fatalf("report=%+v", bad)
	}
}
