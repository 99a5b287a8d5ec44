package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/watchword/watchword/internal/notify"
)

// WebhookConfig POSTs the secret as a Standard Webhooks message.
type WebhookConfig struct {
	// URL must be https, except http to a loopback host (for tests).
	URL string `json:"url"`
	// SigningSecret is the "whsec_<base64>" key the message is signed with.
	// Whoever stores this config should encrypt it at rest, as notify does
	// for channel signing secrets.
	SigningSecret string `json:"signing_secret"`
	// AllowPrivate permits private addresses (10/8, 172.16/12, 192.168/16,
	// 100.64/10, fc00::/7). Link-local, metadata, loopback, unspecified and
	// multicast addresses are refused regardless.
	AllowPrivate bool `json:"allow_private,omitempty"`
	// TimeoutSeconds bounds the whole exchange, redirects included
	// (default 10, at most 120).
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// Webhook limits.
const (
	defaultWebhookTimeout = 10 * time.Second
	maxWebhookTimeout     = 120
	maxRedirects          = 3
	maxResponseSnippet    = 256
)

// Types of the messages a webhook target sends.
const (
	// WebhookEventType is the type of a delivery: the data holds the new
	// secret.
	WebhookEventType = "client_secret.delivery"
	// WebhookRevokedEventType is the type of a revert: the secret that
	// delivery event_id carried is revoked, and the receiver should go
	// back to the secret it used before. The data holds no secret.
	WebhookRevokedEventType = "client_secret.revoked"
)

// RevertIDSuffix is appended to Delivery.EventID to make the webhook-id of
// a revert message.
const RevertIDSuffix = ".revert"

// ErrForbiddenAddress is wrapped by the error of a webhook delivery or
// revert, or of a Check, that would have connected to an address it may not
// reach.
var ErrForbiddenAddress = errors.New("address not allowed")

// Validate reports every problem of c at once.
func (c WebhookConfig) Validate() error {
	if p := c.problems(); len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

func (c WebhookConfig) problems() []string {
	var urlProblem string
	if c.URL == "" {
		urlProblem = "is required"
	} else if u, err := url.Parse(c.URL); err != nil {
		urlProblem = "is not a URL"
	} else if err := checkAddress(u, addressPolicy{allowPrivate: c.AllowPrivate, allowLoopback: true}); err != nil {
		// Loopback is judged at dial time, when the options are known.
		urlProblem = err.Error()
	}
	var secretProblem string
	if c.SigningSecret == "" {
		secretProblem = "is required"
	} else if _, err := notify.ParseSigningSecret(c.SigningSecret); err != nil {
		secretProblem = err.Error()
	}
	return collect([]check{
		{urlProblem != "", "webhook.url", urlProblem},
		{secretProblem != "", "webhook.signing_secret", secretProblem},
		{c.TimeoutSeconds < 0 || c.TimeoutSeconds > maxWebhookTimeout, "webhook.timeout_seconds", fmt.Sprintf("must be 0 (default) to %d", maxWebhookTimeout)},
	})
}

// checkURL applies the scheme rules, to the configured URL and to every
// redirect: https, or http to a loopback host; no credentials.
func checkURL(u *url.URL) error {
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("must be an absolute URL with a host")
	}
	if u.User != nil {
		return errors.New("must not contain credentials")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
		return errors.New("must use https (http is allowed only to a loopback host)")
	default:
		return fmt.Errorf("scheme %q is not allowed (want https)", u.Scheme)
	}
}

// checkAddress applies checkURL and, when the host is an IP literal,
// checkIP. A host name is judged when dialling, against the address it
// resolves to.
func checkAddress(u *url.URL, p addressPolicy) error {
	if err := checkURL(u); err != nil {
		return err
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		return checkIP(ip, p.allowPrivate, p.allowLoopback)
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

var (
	// Cloud metadata services: AWS, GCP, Azure, OpenStack and others use
	// 169.254.169.254 (also in link-local, listed for a clear message);
	// AWS's IPv6 endpoint is fd00:ec2::254; Alibaba's is 100.100.100.200.
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"),
		netip.MustParseAddr("fd00:ec2::254"),
		netip.MustParseAddr("100.100.100.200"),
	}
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	sharedCGNAT = netip.MustParsePrefix("100.64.0.0/10")
	broadcast   = netip.MustParseAddr("255.255.255.255")
)

// checkIP reports whether a webhook may connect to ip. The error wraps
// ErrForbiddenAddress.
func checkIP(ip netip.Addr, allowPrivate, allowLoopback bool) error {
	ip = ip.Unmap().WithZone("")
	refuse := func(why string) error { return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, ip, why) }
	for _, m := range metadataAddrs {
		if ip == m {
			return refuse("a cloud metadata address")
		}
	}
	switch {
	case !ip.IsValid():
		return fmt.Errorf("%w: not an IP address", ErrForbiddenAddress)
	case ip.IsUnspecified() || thisNetwork.Contains(ip):
		return refuse("unspecified")
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return refuse("link-local")
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip == broadcast:
		return refuse("multicast or broadcast")
	case ip.IsLoopback():
		if !allowLoopback {
			return refuse("loopback")
		}
	case ip.IsPrivate() || sharedCGNAT.Contains(ip):
		if !allowPrivate {
			return refuse("private (allow_private, or AllowPrivate for Check, permits it)")
		}
	}
	return nil
}

// addressPolicy says which addresses, beyond those checkIP always allows,
// an outgoing HTTP client may connect to.
type addressPolicy struct {
	allowPrivate  bool
	allowLoopback bool
}

// newGuardedClient returns an HTTP client that connects only where p
// allows: every address is checked just before connect(2), for the first
// request and every redirect alike, and every redirect must pass checkURL.
// It follows at most maxRedirects redirects; redirect, when not nil, is a
// further check of each one. timeout bounds the whole exchange.
func newGuardedClient(timeout time.Duration, p addressPolicy, redirect func(*http.Request) error) *http.Client {
	dialer := &net.Dialer{
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		// Control sees the resolved address just before connect(2), so a
		// name that resolves (or re-resolves) to a forbidden address is
		// refused.
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("%w: %q", ErrForbiddenAddress, address)
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("%w: %q is not an IP address", ErrForbiddenAddress, host)
			}
			return checkIP(ip, p.allowPrivate, p.allowLoopback)
		},
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would hide the real destination from Control
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if redirect != nil {
				if err := redirect(req); err != nil {
					return err
				}
			}
			if err := checkURL(req.URL); err != nil {
				return fmt.Errorf("redirect to %s refused: %w", req.URL.Redacted(), err)
			}
			return nil
		},
	}
}

// send does req with client. Any 2xx answer is success; any other is an
// error naming the status and the start of the response, with secret (which
// may be empty) redacted and non-printable characters replaced. what names
// the operation in errors.
func send(client *http.Client, req *http.Request, what string, secret Plaintext) error {
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("delivery: %s: %w", what, err)
	}
	defer resp.Body.Close()
	// Read enough to redact a secret that straddles the snippet's end.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, int64(maxResponseSnippet+len(secret))))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("delivery: %s: HTTP %d %s", what, resp.StatusCode, redactBounded(snippet, string(secret), maxResponseSnippet))
	}
	return nil
}

// WebhookTarget POSTs secrets to a URL.
type WebhookTarget struct {
	url    string
	keys   [][]byte
	client *http.Client
	now    func() time.Time
}

var _ Reverter = (*WebhookTarget)(nil)

// NewWebhook validates c and returns its target.
func NewWebhook(c WebhookConfig, opts ...Option) (*WebhookTarget, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	o := buildOptions(opts)
	key, err := notify.ParseSigningSecret(c.SigningSecret)
	if err != nil {
		return nil, err // unreachable: Validate parsed it
	}
	timeout := defaultWebhookTimeout
	if c.TimeoutSeconds > 0 {
		timeout = time.Duration(c.TimeoutSeconds) * time.Second
	}
	policy := addressPolicy{allowPrivate: c.AllowPrivate, allowLoopback: o.allowLoopback}
	client := newGuardedClient(timeout, policy, func(req *http.Request) error {
		// 301, 302 and 303 turn the POST into a GET without the body:
		// a 2xx to that would report a message delivered that was not.
		if req.Method != http.MethodPost {
			return fmt.Errorf("redirect would change the method to %s and drop the secret", req.Method)
		}
		return nil
	})
	return &WebhookTarget{url: c.URL, keys: [][]byte{key}, client: client, now: o.now}, nil
}

type webhookMessage struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// revokedPayload is the data of a revert message: payload without the
// secret and its successor's timing.
type revokedPayload struct {
	EventID    string `json:"event_id"`
	Domain     string `json:"domain,omitempty"`
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name,omitempty"`
	SecretID   string `json:"secret_id"`
}

// Deliver POSTs d as a signed JSON message; any 2xx answer means
// delivered. The webhook-id is d.EventID so the receiver can drop repeats.
func (t *WebhookTarget) Deliver(ctx context.Context, d Delivery) error {
	if err := d.validate(); err != nil {
		return err
	}
	now := t.now().UTC()
	body, err := json.Marshal(webhookMessage{Type: WebhookEventType, Timestamp: now, Data: newPayload(d)})
	if err != nil {
		return errors.New("delivery: webhook: encoding the message failed")
	}
	return scrub(t.post(ctx, "webhook", d.EventID, now, body, d.Secret), d.Secret)
}

// Prepare returns nil: a webhook revert needs nothing but the delivery.
func (t *WebhookTarget) Prepare(ctx context.Context) ([]byte, error) { return nil, nil }

// Revert POSTs a signed WebhookRevokedEventType message naming d's event,
// client and secret id, and no secret, telling the receiver to go back to
// its previous secret; any 2xx answer means told. The webhook-id is
// d.EventID + RevertIDSuffix, so the receiver can drop repeats: Revert is
// idempotent when the receiver is. prepared is ignored.
func (t *WebhookTarget) Revert(ctx context.Context, d Delivery, _ []byte) error {
	if err := d.validateRevert(); err != nil {
		return err
	}
	now := t.now().UTC()
	data := revokedPayload{EventID: d.EventID, Domain: d.Domain, ClientID: d.ClientID, ClientName: d.ClientName, SecretID: d.SecretID}
	body, err := json.Marshal(webhookMessage{Type: WebhookRevokedEventType, Timestamp: now, Data: data})
	if err != nil {
		return errors.New("delivery: webhook revert: encoding the message failed")
	}
	return scrub(t.post(ctx, "webhook revert", d.EventID+RevertIDSuffix, now, body, d.Secret), d.Secret)
}

// post sends body signed as message id; secret is redacted from a failed
// response.
func (t *WebhookTarget) post(ctx context.Context, what, id string, now time.Time, body []byte, secret Plaintext) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("delivery: %s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Watchword-Webhooks/1")
	req.Header.Set(notify.HeaderID, id)
	req.Header.Set(notify.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(notify.HeaderSignature, notify.Sign(t.keys, id, now, body))
	return send(t.client, req, what, secret)
}
