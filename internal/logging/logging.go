// Package logging builds the server's slog logger. Every line logged with a
// request's context carries that request's id.
package logging

import (
	"context"
	"io"
	"log/slog"

	"github.com/watchword/watchword"
)

// New returns a logger writing text or JSON at the given level.
func New(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(requestContextHandler{h})
}

// requestContextHandler adds request_id from the context to each record.
type requestContextHandler struct{ slog.Handler }

func (h requestContextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := watchword.RequestIDFromContext(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestContextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestContextHandler{h.Handler.WithAttrs(as)}
}

func (h requestContextHandler) WithGroup(name string) slog.Handler {
	return requestContextHandler{h.Handler.WithGroup(name)}
}
