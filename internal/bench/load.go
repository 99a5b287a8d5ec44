// Package bench is Watchword's load generator: it drives an endpoint with
// keep-alive connections for a fixed time and reports throughput, latency
// percentiles and every non-200 answer. It also holds the bare reference
// handler that the token endpoint is compared against.
package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Request builds one request of a scenario; worker and n let it vary.
type Request func(worker, n int) (*http.Request, error)

// Options of one run.
type Options struct {
	Connections int
	Duration    time.Duration
	Warmup      time.Duration
}

// Report is the outcome of a run.
type Report struct {
	Name      string
	Requests  int
	Elapsed   time.Duration
	PerSecond float64
	P50       time.Duration
	P99       time.Duration
	P999      time.Duration
	// NonOK counts answers other than 200 by status; status 0 is a
	// transport error.
	NonOK map[int]int
	// Samples holds the first body of each non-200 status.
	Samples map[int]string
}

func (r Report) String() string {
	s := fmt.Sprintf("%-28s %9.0f req/s  p50 %7s  p99 %7s  p99.9 %7s  (%d requests in %s)",
		r.Name, r.PerSecond, round(r.P50), round(r.P99), round(r.P999), r.Requests, r.Elapsed.Round(time.Millisecond))
	for status, n := range r.NonOK {
		s += fmt.Sprintf("\n    %d answers with status %d, e.g. %q", n, status, r.Samples[status])
	}
	return s
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d > 10*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}

// Run drives build with opts.Connections workers, each on its own
// keep-alive connection, for opts.Duration after a warm-up.
func Run(ctx context.Context, name string, opts Options, build Request) (Report, error) {
	if opts.Connections < 1 {
		opts.Connections = 32
	}
	transport := &http.Transport{MaxIdleConnsPerHost: opts.Connections, MaxConnsPerHost: opts.Connections, DisableCompression: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	type result struct {
		lat     []time.Duration
		nonOK   map[int]int
		samples map[int]string
		err     error
	}
	results := make([]result, opts.Connections)
	var start, stop time.Time
	measuring := make(chan struct{})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := range opts.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[w]
			res.nonOK, res.samples = map[int]int{}, map[int]string{}
			res.lat = make([]time.Duration, 0, 1<<16)
			counting := false
			for n := 0; ctx.Err() == nil; n++ {
				if !counting {
					select {
					case <-measuring:
						counting = true
					default:
					}
				}
				req, err := build(w, n)
				if err != nil {
					res.err = err
					return
				}
				t0 := time.Now()
				resp, err := client.Do(req.WithContext(ctx))
				status := 0
				var body []byte
				if err == nil {
					body, _ = io.ReadAll(resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				} else if ctx.Err() != nil {
					return
				} else {
					body = []byte(err.Error())
				}
				if !counting {
					continue
				}
				res.lat = append(res.lat, time.Since(t0))
				if status != http.StatusOK {
					res.nonOK[status]++
					if _, ok := res.samples[status]; !ok {
						res.samples[status] = strings.TrimSpace(string(body[:min(len(body), 200)]))
					}
				}
			}
		}()
	}
	select {
	case <-time.After(opts.Warmup):
	case <-ctx.Done():
	}
	start = time.Now()
	close(measuring)
	select {
	case <-time.After(opts.Duration):
	case <-ctx.Done():
	}
	stop = time.Now()
	cancel()
	wg.Wait()

	rep := Report{Name: name, Elapsed: stop.Sub(start), NonOK: map[int]int{}, Samples: map[int]string{}}
	var all []time.Duration
	for _, r := range results {
		if r.err != nil {
			return rep, r.err
		}
		all = append(all, r.lat...)
		for s, n := range r.nonOK {
			rep.NonOK[s] += n
			if _, ok := rep.Samples[s]; !ok {
				rep.Samples[s] = r.samples[s]
			}
		}
	}
	slices.Sort(all)
	rep.Requests = len(all)
	rep.PerSecond = float64(len(all)) / rep.Elapsed.Seconds()
	rep.P50, rep.P99, rep.P999 = percentile(all, 0.50), percentile(all, 0.99), percentile(all, 0.999)
	return rep, nil
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}
