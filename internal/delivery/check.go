package delivery

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// ValidateCheckURL reports whether Check could ever fetch rawURL: https,
// or plain http to a loopback host, with no credentials. The addresses it
// resolves to are checked only when Check dials.
func ValidateCheckURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	return checkURL(u)
}

// Check GETs rawURL as a health check, such as a rotation's test step runs
// once a new secret is delivered: any 2xx answer passes; any other is an
// error naming the status and the start of the response, sanitized.
//
// The address rules are a webhook target's: https, or plain http to a
// loopback host; loopback only with AllowLoopback, private addresses only
// with AllowPrivate, and link-local, cloud metadata, multicast and
// unspecified addresses never. They are checked when dialling, for the
// first request and every redirect, and at most 3 redirects are followed.
// The whole exchange is bounded by WithTimeout (default 10s) and by ctx.
func Check(ctx context.Context, rawURL string, opts ...Option) error {
	o := buildOptions(opts)
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("delivery: check: %w", err)
	}
	policy := addressPolicy{allowPrivate: o.allowPrivate, allowLoopback: o.allowLoopback}
	if err := checkAddress(u, policy); err != nil {
		return fmt.Errorf("delivery: check %s: %w", u.Redacted(), err)
	}
	timeout := o.timeout
	if timeout <= 0 {
		timeout = defaultWebhookTimeout
	}
	client := newGuardedClient(timeout, policy, nil)
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("delivery: check: %w", err)
	}
	req.Header.Set("User-Agent", "Watchword-Check/1")
	return send(client, req, "check", "")
}
