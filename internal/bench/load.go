// Package bench is Watchword's load generator: it drives an endpoint with
// keep-alive connections for a fixed time and reports throughput, latency
// percentiles and every non-200 answer. It also holds the bare reference
// handler that the token endpoint is compared against.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// Run drives the request that build returns with opts.Connections workers,
// each on its own keep-alive connection, for opts.Duration after a warm-up.
// Like wrk, it writes a pre-serialised request and reads the response with a
// minimal HTTP/1.1 parser, so that the generator costs little of the CPU
// the server under test shares with it.
func Run(ctx context.Context, name string, opts Options, build Request) (Report, error) {
	if opts.Connections < 1 {
		opts.Connections = 32
	}
	type result struct {
		lat     []time.Duration
		nonOK   map[int]int
		samples map[int]string
		err     error
	}
	results := make([]result, opts.Connections)
	var measuring atomic.Bool
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
			req, err := build(w, 0)
			if err != nil {
				res.err = err
				return
			}
			var raw bytes.Buffer
			if err := req.Write(&raw); err != nil {
				res.err = err
				return
			}
			addr := req.URL.Host
			var conn *rawConn
			defer func() {
				if conn != nil {
					conn.Close()
				}
			}()
			for ctx.Err() == nil {
				if conn == nil {
					if conn, err = dial(ctx, addr); err != nil {
						if ctx.Err() == nil {
							res.err = err
						}
						return
					}
				}
				t0 := time.Now()
				status, body, keep, err := conn.roundTrip(raw.Bytes())
				if err != nil {
					conn.Close()
					conn = nil
					if ctx.Err() != nil {
						return
					}
					status, body = 0, []byte(err.Error())
				} else if !keep {
					conn.Close()
					conn = nil
				}
				if !measuring.Load() {
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
	start := time.Now()
	measuring.Store(true)
	select {
	case <-time.After(opts.Duration):
	case <-ctx.Done():
	}
	measuring.Store(false)
	stop := time.Now()
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

// rawConn is one keep-alive HTTP/1.1 connection.
type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dial(ctx context.Context, addr string) (*rawConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	go func() { <-ctx.Done(); c.Close() }()
	return &rawConn{Conn: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
}

// roundTrip writes req and reads one response: status, body, and whether
// the connection may be reused.
func (c *rawConn) roundTrip(req []byte) (status int, body []byte, keep bool, err error) {
	if _, err = c.Write(req); err != nil {
		return
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, false, errors.New("malformed status line")
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return
	}
	length, chunked, keep := -1, false, true
	for {
		line, err = c.r.ReadSlice('\n')
		if err != nil {
			return
		}
		h := bytes.TrimRight(line, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, _ := bytes.Cut(h, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(v))
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			keep = !bytes.EqualFold(v, []byte("close"))
		}
	}
	switch {
	case chunked:
		body, err = io.ReadAll(httputil.NewChunkedReader(c.r))
		if err == nil {
			_, err = c.r.ReadSlice('\n') // the empty trailer
		}
	case length >= 0:
		body = make([]byte, length)
		_, err = io.ReadFull(c.r, body)
	default:
		body, err = io.ReadAll(c.r)
		keep = false
	}
	return status, body, keep, err
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}
