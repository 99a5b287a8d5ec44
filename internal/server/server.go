// Package server runs Watchword's two HTTP listeners: the public one (OAuth
// endpoints) and the admin one (management API). It adds request ids,
// access logs, panic recovery and health endpoints, and shuts down
// gracefully, letting in-flight requests finish.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"time"

	"github.com/watchword/watchword"
)

// Pinger reports whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server holds the two listeners.
type Server struct {
	Logger          *slog.Logger
	ShutdownTimeout time.Duration
	public, admin   *http.Server
	publicLn        net.Listener
	adminLn         net.Listener
}

// New returns a server whose public and admin muxes get /healthz and
// /readyz added beside the given handlers.
func New(publicHandler, adminHandler http.Handler, db Pinger, logger *slog.Logger) *Server {
	s := &Server{Logger: logger, ShutdownTimeout: 15 * time.Second}
	s.public = s.httpServer("public", withHealth(publicHandler, db))
	s.admin = s.httpServer("admin", withHealth(adminHandler, db))
	return s
}

func (s *Server) httpServer(name string, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           s.middleware(name, h),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
}

func withHealth(h http.Handler, db Pinger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if err := db.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"status":"database unavailable"}`)
			return
		}
		fmt.Fprintln(w, `{"status":"ready"}`)
	})
	if h != nil {
		mux.Handle("/", h)
	}
	return mux
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// middleware gives every request an id (a sane incoming X-Request-Id, or a
// new one), logs it once it is done, and turns a panic into a 500.
func (s *Server) middleware(listener string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || !requestIDRE.MatchString(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		ctx := watchword.NewContextWithRequestID(r.Context(), id)
		r = r.WithContext(ctx)
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.Logger.ErrorContext(ctx, "panic in handler", "panic", fmt.Sprint(p))
				if !rec.wrote {
					rec.Header().Set("Content-Type", "application/json")
					rec.WriteHeader(http.StatusInternalServerError)
					fmt.Fprintln(rec, `{"error":"server_error"}`)
				}
			}
			// Token requests are too many to log one line each at info.
			level := slog.LevelInfo
			if listener == "public" && rec.status < 500 {
				level = slog.LevelDebug
			}
			if s.Logger.Enabled(ctx, level) { // spares building the attributes of a line not written
				s.Logger.Log(ctx, level, "request", "listener", listener, "method", r.Method,
					"path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Listen binds both listeners; an address with port 0 picks a free port.
func (s *Server) Listen(publicAddr, adminAddr string) error {
	var err error
	if s.publicLn, err = net.Listen("tcp", publicAddr); err != nil {
		return fmt.Errorf("public listener: %w", err)
	}
	if s.adminLn, err = net.Listen("tcp", adminAddr); err != nil {
		s.publicLn.Close()
		return fmt.Errorf("admin listener: %w", err)
	}
	return nil
}

// PublicAddr and AdminAddr are the bound addresses, after Listen.
func (s *Server) PublicAddr() string { return s.publicLn.Addr().String() }
func (s *Server) AdminAddr() string  { return s.adminLn.Addr().String() }

// Serve serves until ctx is cancelled, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- s.public.Serve(s.publicLn) }()
	go func() { errc <- s.admin.Serve(s.adminLn) }()
	select {
	case err := <-errc:
		s.shutdown()
		return err
	case <-ctx.Done():
	}
	s.Logger.Info("shutting down", "timeout", s.ShutdownTimeout)
	return s.shutdown()
}

func (s *Server) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	return errors.Join(s.public.Shutdown(ctx), s.admin.Shutdown(ctx))
}
