package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/bench"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/secret"
)

const benchLong = `Drive a running server's token endpoint with keep-alive connections for a
fixed time and report requests/s, p50/p99/p99.9 latency and every non-200.

It creates its own domain (bench-…) and clients through the management API, so
it needs an admin token. The 20-secret scenario needs a server whose
secrets.max_per_client is at least 21 (WATCHWORD_SECRETS_MAX_PER_CLIENT=32).

Scenarios, run one after the other:
  reference       a bare net/http handler (Basic auth, form, one HMAC-SHA-256,
                  one Ed25519 JWT, JSON) served by this process, or the one at
                  --reference-url (see 'watchword bench reference')
  cc-basic        client_credentials, client_secret_basic, client with 1 secret
  cc-basic-20     the same with 20 valid secrets on the client
  cc-basic-1v20   both clients at once, half the connections each, so that
                  both meet the same machine: the fairest 20-to-1 comparison
  cc-wrong-secret a wrong secret (401 expected, or 429 once throttled)
  introspect      RFC 7662 introspection of a JWT access token, Basic auth`

func benchCommand() *cobra.Command {
	var (
		publicURL, referenceURL string
		opts                    bench.Options
		scenarios               []string
		rounds                  int
	)
	cmd := command("bench", "Measure the token endpoint under load", func(s *session, cmd *cobra.Command, _ []string) error {
		return runBench(cmd.Context(), s, cmd, publicURL, referenceURL, opts, scenarios, rounds)
	})
	cmd.Long = benchLong
	cmd.Flags().StringVar(&publicURL, "public-url", "http://127.0.0.1:8080", "base URL of the server's public listener")
	cmd.Flags().StringVar(&referenceURL, "reference-url", "", "token URL of a reference server started with 'watchword bench reference' (default: serve it in this process)")
	cmd.Flags().DurationVar(&opts.Duration, "duration", 10*time.Second, "measured time per scenario")
	cmd.Flags().DurationVar(&opts.Warmup, "warmup", 2*time.Second, "unmeasured time before each scenario")
	cmd.Flags().IntVar(&opts.Connections, "connections", 32, "concurrent keep-alive connections")
	cmd.Flags().IntVar(&rounds, "rounds", 3, "rounds of all scenarios; the median round of each is reported")
	cmd.Flags().StringSliceVar(&scenarios, "scenarios", []string{"reference", "cc-basic", "cc-basic-20", "cc-basic-1v20", "cc-wrong-secret", "introspect"}, "scenarios to run")
	cmd.AddCommand(benchReferenceCommand())
	return cmd
}

func benchReferenceCommand() *cobra.Command {
	var addr, id, sec string
	cmd := &cobra.Command{
		Use:   "reference",
		Short: "Serve the bare reference token handler (for 'watchword bench --reference-url')",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tuneGC() // as serve does, so the two are compared on equal terms
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reference token handler on http://%s/token (client %s)\n", ln.Addr(), id)
			srv := &http.Server{Handler: bench.NewReference(id, sec)}
			go func() { <-cmd.Context().Done(); srv.Close() }()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8090", "listen address")
	cmd.Flags().StringVar(&id, "client-id", "reference", "client id it accepts")
	cmd.Flags().StringVar(&sec, "client-secret", "reference-secret", "client secret it accepts")
	return cmd
}

// benchTarget is one client the scenarios use.
type benchTarget struct{ id, secret string }

func runBench(ctx context.Context, s *session, cmd *cobra.Command, publicURL, referenceURL string, opts bench.Options, scenarios []string, rounds int) error {
	if rounds < 1 {
		return usageErrorf(cmd, "--rounds must be at least 1")
	}
	out := cmd.OutOrStdout()
	domain := "bench-" + strings.ToLower(secret.NewID()[:8])
	if _, err := s.api.CreateDomain(ctx, domain, "created by watchword bench"); err != nil {
		return err
	}
	p := watchword.DefaultSecretPolicy()
	p.MaxSecrets = 21
	if _, err := s.api.SetDomainPolicy(ctx, domain, p); err != nil {
		return fmt.Errorf("allow 21 secrets per client (is the server's secrets.max_per_client at least 21?): %w", err)
	}
	newClient := func(name string, extra int) (benchTarget, error) {
		created, err := s.api.CreateClient(ctx, domain, lifecycle.ClientCreate{Name: name})
		if err != nil {
			return benchTarget{}, err
		}
		for range extra {
			if _, err := s.api.AddSecret(ctx, domain, created.Client.ID, lifecycle.SecretCreate{}); err != nil {
				return benchTarget{}, err
			}
		}
		return benchTarget{created.Client.ID, created.Secret.Plaintext}, nil
	}
	one, err := newClient("one-secret", 0)
	if err != nil {
		return err
	}
	twenty, err := newClient("twenty-secrets", 19)
	if err != nil {
		return err
	}
	resource, err := newClient("resource-server", 0)
	if err != nil {
		return err
	}
	tokenURL := strings.TrimSuffix(publicURL, "/") + "/" + domain + "/oauth/token"
	introspectURL := strings.TrimSuffix(publicURL, "/") + "/" + domain + "/oauth/introspect"
	ccBody := url.Values{"grant_type": {"client_credentials"}}.Encode()
	post := func(u, body string, t benchTarget) bench.Request {
		return func(int, int) (*http.Request, error) {
			req, err := http.NewRequest("POST", u, strings.NewReader(body))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(t.id, t.secret)
			return req, nil
		}
	}

	builds := map[string]bench.Request{}
	for _, name := range scenarios {
		switch name {
		case "reference":
			ref := benchTarget{"reference", "reference-secret"}
			u := referenceURL
			if u == "" {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					return err
				}
				srv := &http.Server{Handler: bench.NewReference(ref.id, ref.secret)}
				go srv.Serve(ln)
				defer srv.Close()
				u = "http://" + ln.Addr().String() + "/token"
			}
			builds[name] = post(u, ccBody, ref)
		case "cc-basic":
			builds[name] = post(tokenURL, ccBody, one)
		case "cc-basic-20":
			builds[name] = post(tokenURL, ccBody, twenty)
		case "cc-basic-1v20":
			builds[name+"/1"], builds[name+"/20"] = post(tokenURL, ccBody, one), post(tokenURL, ccBody, twenty)
		case "cc-wrong-secret":
			wrong := one
			last := "x" // a different last character
			if strings.HasSuffix(one.secret, last) {
				last = "y"
			}
			wrong.secret = one.secret[:len(one.secret)-1] + last
			builds[name] = post(tokenURL, ccBody, wrong)
		case "introspect":
			tok, err := fetchToken(ctx, tokenURL, one)
			if err != nil {
				return err
			}
			builds[name] = post(introspectURL, url.Values{"token": {tok}}.Encode(), resource)
		default:
			return usageErrorf(cmd, "unknown scenario %q", name)
		}
	}
	run := func(name string) ([]bench.Report, error) {
		if name != "cc-basic-1v20" {
			rep, err := bench.Run(ctx, name, opts, builds[name])
			return []bench.Report{rep}, err
		}
		half := opts
		half.Connections = max(1, opts.Connections/2)
		reps, errs := make([]bench.Report, 2), make([]error, 2)
		var wg sync.WaitGroup
		for i, part := range []string{name + "/1", name + "/20"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				reps[i], errs[i] = bench.Run(ctx, part, half, builds[part])
			}()
		}
		wg.Wait()
		return reps, errors.Join(errs...)
	}
	// Scenarios take turns, round after round, so that the machine's drift
	// spreads over all of them; the median round of each is reported.
	runs := map[string][]bench.Report{}
	var names []string // of the reports, in order
	for round := 1; round <= rounds; round++ {
		for _, name := range scenarios {
			reps, err := run(name)
			if err != nil {
				return err
			}
			for _, rep := range reps {
				if round == 1 {
					names = append(names, rep.Name)
				}
				runs[rep.Name] = append(runs[rep.Name], rep)
				fmt.Fprintf(out, "round %d: %s\n", round, rep)
			}
		}
	}
	fmt.Fprintf(out, "\nmedian of %d rounds:\n", rounds)
	for _, name := range names {
		rs := slices.Clone(runs[name])
		slices.SortFunc(rs, func(a, b bench.Report) int { return cmp.Compare(a.PerSecond, b.PerSecond) })
		fmt.Fprintln(out, rs[len(rs)/2])
	}
	// A ratio is taken within each round, between scenarios run one after
	// the other, so that the machine's drift from round to round cancels
	// out; the median of the rounds' ratios is reported.
	ratio := func(label, a, b string) {
		ra, rb := runs[a], runs[b]
		if len(ra) == 0 || len(rb) == 0 {
			return
		}
		var each []float64
		for i := range ra {
			if rb[i].PerSecond > 0 {
				each = append(each, ra[i].PerSecond/rb[i].PerSecond)
			}
		}
		if len(each) == 0 {
			return
		}
		all := make([]string, len(each))
		for i, r := range each {
			all[i] = fmt.Sprintf("%.2f", r)
		}
		slices.Sort(each)
		fmt.Fprintf(out, "%-28s %.2f (rounds: %s)\n", label, each[len(each)/2], strings.Join(all, " "))
	}
	ratio("cc-basic / reference", "cc-basic", "reference")
	ratio("cc-basic-20 / cc-basic", "cc-basic-20", "cc-basic")
	ratio("cc-basic-1v20: 20 / 1", "cc-basic-1v20/20", "cc-basic-1v20/1")
	ratio("cc-wrong-secret / cc-basic", "cc-wrong-secret", "cc-basic")
	return nil
}

func fetchToken(ctx context.Context, tokenURL string, t benchTarget) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", tokenURL, strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(t.id, t.secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := jsonDecode(resp, &body); err != nil || body.AccessToken == "" {
		return "", fmt.Errorf("get a token for the introspect scenario: status %d: %v", resp.StatusCode, err)
	}
	return body.AccessToken, nil
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
