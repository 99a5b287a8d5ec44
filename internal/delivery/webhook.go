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

// WebhookEventType is the type of the message a webhook target sends.
const WebhookEventType = "client_secret.delivery"

// ErrForbiddenAddress is wrapped by the error of a webhook delivery that
// would have connected to an address the target may not reach.
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
	} else if err := checkURL(u); err != nil {
		urlProblem = err.Error()
	} else if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		// An IP literal can be judged now; names are judged at dial time.
		if err := checkIP(ip, c.AllowPrivate, true); err != nil {
			urlProblem = err.Error()
		}
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
			return refuse("private (set allow_private to permit it)")
		}
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

var _ Target = (*WebhookTarget)(nil)

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
	allowPrivate, allowLoopback := c.AllowPrivate, o.allowLoopback
	dialer := &net.Dialer{
		Timeout:   timeout,
		KeepAlive: 30 * time.Second,
		// Control sees the resolved address just before connect(2), for
		// the first request and every redirect alike, so a name that
		// resolves (or re-resolves) to a forbidden address is refused.
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("%w: %q", ErrForbiddenAddress, address)
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("%w: %q is not an IP address", ErrForbiddenAddress, host)
			}
			return checkIP(ip, allowPrivate, allowLoopback)
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
	client := &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			// 301, 302 and 303 turn the POST into a GET without the body:
			// a 2xx to that would report a secret delivered that was not.
			if req.Method != http.MethodPost {
				return fmt.Errorf("redirect would change the method to %s and drop the secret", req.Method)
			}
			if err := checkURL(req.URL); err != nil {
				return fmt.Errorf("redirect to %s refused: %w", req.URL.Redacted(), err)
			}
			return nil
		},
	}
	return &WebhookTarget{url: c.URL, keys: [][]byte{key}, client: client, now: o.now}, nil
}

type webhookMessage struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      payload   `json:"data"`
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
	return scrub(t.post(ctx, d, now, body), d.Secret)
}

func (t *WebhookTarget) post(ctx context.Context, d Delivery, now time.Time, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("delivery: webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Watchword-Webhooks/1")
	req.Header.Set(notify.HeaderID, d.EventID)
	req.Header.Set(notify.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(notify.HeaderSignature, notify.Sign(t.keys, d.EventID, now, body))
	resp, err := t.client.Do(req)
	if err != nil {
		return fmt.Errorf("delivery: webhook: %w", err)
	}
	defer resp.Body.Close()
	// Read enough to redact a secret that straddles the snippet's end.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, int64(maxResponseSnippet+len(d.Secret))))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("delivery: webhook: HTTP %d %s", resp.StatusCode, redactBounded(snippet, string(d.Secret), maxResponseSnippet))
	}
	return nil
}
