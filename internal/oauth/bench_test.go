package oauth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/bench"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/testenv"
)

// BenchmarkClientCredentials measures the token endpoint through a real
// loopback listener on SQLite: right secret with 1 and 20 secrets on the
// client, and a wrong secret (which must cost no more).
func BenchmarkClientCredentials(b *testing.B) {
	s := testenv.Start(b, "sqlite", testenv.Options{MaxSecretsPerClient: 32})
	p := watchword.DefaultSecretPolicy()
	p.MaxSecrets = 21
	if _, err := s.Service.SetDomainPolicy(s.Ctx, "default", p); err != nil {
		b.Fatal(err)
	}
	mk := func(name string, extra int) (string, string) {
		c, ns, err := s.Service.CreateClient(s.Ctx, "default", lifecycle.ClientCreate{Name: name})
		if err != nil {
			b.Fatal(err)
		}
		for range extra {
			if _, err := s.Service.AddSecret(s.Ctx, "default", name, lifecycle.SecretCreate{}); err != nil {
				b.Fatal(err)
			}
		}
		return c.ID, ns.Plaintext
	}
	id1, sec1 := mk("one", 0)
	id20, sec20 := mk("twenty", 19)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	run := func(b *testing.B, id, sec string, want int) {
		b.SetParallelism(16) // 32 concurrent clients on 2 cores, as the load tool uses
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest("POST", s.TokenURL("default"), strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(id, sec)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body) // so the connection is reused
				resp.Body.Close()
				if resp.StatusCode != want && !(want == 401 && resp.StatusCode == 429) {
					b.Fatalf("status %d, want %d", resp.StatusCode, want)
				}
			}
		})
	}
	b.Run("secrets=1", func(b *testing.B) { run(b, id1, sec1, 200) })
	b.Run("secrets=20", func(b *testing.B) { run(b, id20, sec20, 200) })
	b.Run("wrong-secret", func(b *testing.B) { run(b, id1, wrongSecret(sec1), 401) })
}

// BenchmarkTokenHandler measures the token endpoint's own work, without the
// network: the provider's handler against the bare reference handler, one
// request after the other on a recorder. It is where allocations and CPU
// spent outside the signature show.
func BenchmarkTokenHandler(b *testing.B) {
	s := testenv.Start(b, "sqlite", testenv.Options{})
	c, ns, err := s.Service.CreateClient(s.Ctx, "default", lifecycle.ClientCreate{Name: "one"})
	if err != nil {
		b.Fatal(err)
	}
	ref := bench.NewReference("reference", "reference-secret")
	run := func(b *testing.B, h http.Handler, url, id, sec string) {
		b.ReportAllocs()
		for b.Loop() {
			req := httptest.NewRequest("POST", url, strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, sec)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("reference", func(b *testing.B) { run(b, ref, "/token", "reference", "reference-secret") })
	b.Run("provider", func(b *testing.B) { run(b, s.Provider, "/default/oauth/token", c.ID, ns.Plaintext) })
}
