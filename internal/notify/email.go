package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/watchword/watchword"
)

// SMTP connection security.
const (
	TLSNone     = "none"     // plain text; credentials only to localhost
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, required
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS, port 465)
)

// Mailer sends mail through one SMTP relay.
type Mailer struct {
	Host string
	Port int
	// Username and Password authenticate with AUTH PLAIN when Username is
	// set; net/smtp refuses to send them unencrypted except to localhost.
	Username, Password string
	From               string
	// TLS is TLSNone, TLSStartTLS or TLSImplicit.
	TLS string
	// TLSConfig, if set, is used for the TLS connection (tests set RootCAs);
	// its ServerName defaults to Host.
	TLSConfig *tls.Config
	// Timeout bounds one whole sending, connection to QUIT; 0 means 30s.
	Timeout time.Duration
	// Hostname is sent in EHLO; empty means "localhost".
	Hostname string
}

// Send sends msg (a complete RFC 5322 message) to every address of to in
// one SMTP transaction.
func (m *Mailer) Send(ctx context.Context, to []string, msg []byte) (err error) {
	if m == nil || m.Host == "" {
		return errors.New("smtp: this server has no SMTP settings (smtp.host)")
	}
	from, err := mail.ParseAddress(m.From) // the envelope takes the bare address
	if err != nil {
		return fmt.Errorf("smtp.from: %w", err)
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	defer conn.Close()
	// Network deadlines follow the real clock, whatever clock the caller
	// injects for scheduling.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	cfg := m.tlsConfig()
	if m.TLS == TLSImplicit {
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("smtp: tls: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, m.Host)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	hostname := m.Hostname
	if hostname == "" {
		hostname = "localhost"
	}
	if err := c.Hello(hostname); err != nil {
		return fmt.Errorf("smtp: EHLO: %w", err)
	}
	if m.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("smtp: the server does not offer STARTTLS, which smtp.tls=starttls requires")
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("smtp: STARTTLS: %w", err)
		}
	}
	if m.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("smtp: the server does not offer AUTH, but smtp.username is set")
		}
		if err := c.Auth(smtp.PlainAuth("", m.Username, m.Password, m.Host)); err != nil {
			return fmt.Errorf("smtp: AUTH: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return fmt.Errorf("smtp: RCPT TO %s: %w", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smtp: QUIT: %w", err)
	}
	return nil
}

func (m *Mailer) tlsConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if m.TLSConfig != nil {
		cfg = m.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = m.Host
	}
	return cfg
}

// ---- messages

// oneLine makes a stored name or description safe for a header or a line
// of text: control characters become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// Subject is the subject of the email of an event.
func Subject(ev watchword.Event) string {
	d := ev.Data
	sec := "secret …" + d.Secret.Hint
	var what string
	switch ev.Type {
	case watchword.EventSecretCreated:
		what = "New " + sec + " for client " + d.Client.Name
	case watchword.EventSecretRotated:
		what = "Client " + d.Client.Name + " rotated to " + sec
	case watchword.EventSecretRevoked:
		what = strings.ToUpper(sec[:1]) + sec[1:] + " of client " + d.Client.Name + " revoked"
	case watchword.EventSecretExpiring:
		what = strings.ToUpper(sec[:1]) + sec[1:] + " of client " + d.Client.Name + " expires in " + days(d.ThresholdDays)
	case watchword.EventSecretExpired:
		what = strings.ToUpper(sec[:1]) + sec[1:] + " of client " + d.Client.Name + " has expired"
	case watchword.EventSecretStillInUse:
		what = strings.ToUpper(sec[:1]) + sec[1:] + " of client " + d.Client.Name + " is still in use and stops working at " + mailTime(d.TransitionEnd)
	case watchword.EventRotationStarted:
		what = "Rotation of client " + d.Client.Name + " started"
	case watchword.EventRotationCompleted:
		what = "Rotation of client " + d.Client.Name + " completed"
	case watchword.EventRotationFailed:
		what = "Rotation of client " + d.Client.Name + " FAILED at " + string(d.RunStep)
	case watchword.EventRotationRolledBack:
		what = "Rotation of client " + d.Client.Name + " rolled back"
	default:
		what = ev.Type + " for client " + d.Client.Name
	}
	return oneLine("[Watchword] " + what + " (" + d.Domain.Name + ")")
}

func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}

const mailTimeLayout = "2006-01-02 15:04:05 MST"

func mailTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(mailTimeLayout)
}

// body is the plain-text body of the email of an event.
func body(ev watchword.Event) string {
	d := ev.Data
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%-14s %s\n", k+":", oneLine(v)) }
	switch ev.Type {
	case watchword.EventSecretCreated:
		b.WriteString("A new secret was added to the client.\n\n")
	case watchword.EventSecretRotated:
		b.WriteString("The client's secrets were rotated: a new secret was created and the\nprevious ones stop working at the end of their transition period.\n\n")
	case watchword.EventSecretRevoked:
		b.WriteString("A secret was revoked: it no longer authenticates.\n\n")
	case watchword.EventSecretExpiring:
		fmt.Fprintf(&b, "A secret expires in %s or less: rotate it before it stops working.\n\n", days(d.ThresholdDays))
	case watchword.EventSecretExpired:
		b.WriteString("A secret has expired: it no longer authenticates.\n\n")
	case watchword.EventSecretStillInUse:
		b.WriteString("A secret that a rotation replaced was used recently, and its transition\nperiod ends soon: whatever still uses it will fail then. Give it the new\nsecret.\n\n")
	case watchword.EventRotationStarted:
		b.WriteString("An automated rotation started: a new secret was created and is being\ndelivered to the client's targets.\n\n")
	case watchword.EventRotationCompleted:
		b.WriteString("An automated rotation completed: the new secret was delivered, tested and\npromoted, and the secrets it replaced were revoked.\n\n")
	case watchword.EventRotationFailed:
		b.WriteString("An automated rotation failed and was rolled back: its new secret was\nrevoked and the current secret was left working. Retry it once the\ncause is fixed ('watchword rotation retry').\n\n")
	case watchword.EventRotationRolledBack:
		b.WriteString("An automated rotation was rolled back: its new secret was revoked and\nthe current secret was left working.\n\n")
	}
	line("Domain", d.Domain.Name+" ("+d.Domain.ID+")")
	line("Client", d.Client.Name+" ("+d.Client.ID+")")
	if d.Secret.ID != "" { // a run that failed before creating its secret has none
		line("Secret", d.Secret.ID+", ending …"+d.Secret.Hint)
		line("Description", d.Secret.Description)
		line("Created", mailTime(&d.Secret.CreatedAt))
		line("Expires", mailTime(d.Secret.ExpiresAt))
		line("Last used", mailTime(d.Secret.LastUsedAt))
	}
	for _, p := range d.PreviousSecrets {
		line("Previous", p.ID+", ending …"+p.Hint+", works until "+mailTime(p.ExpiresAt))
	}
	if d.RevocationReason != "" {
		line("Reason", d.RevocationReason)
	}
	if d.RunID != "" {
		line("Run", d.RunID+", step "+string(d.RunStep))
	}
	if d.Reason != "" {
		line("Reason", d.Reason)
	}
	if d.TransitionEnd != nil {
		line("Works until", mailTime(d.TransitionEnd))
	}
	if d.Compromised {
		line("Compromised", "yes: refresh tokens and codes of the client were revoked too")
	}
	line("By", d.Actor)
	line("Event", ev.ID+" ("+ev.Type+") at "+mailTime(&ev.Timestamp))
	b.WriteString("\nThis message was sent by Watchword. The event id is the same on every\ncopy of this notification, so that repeats can be recognised.\n")
	return b.String()
}

// Message composes the email of an event: plain text, quoted-printable,
// with a Message-ID that is the same on every attempt so that mail clients
// show a repeat once.
func Message(from string, to []string, ev watchword.Event, channelID string, now time.Time) ([]byte, error) {
	fromAddr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("smtp.from: %w", err)
	}
	domain := "watchword.invalid"
	if _, host, ok := strings.Cut(fromAddr.Address, "@"); ok && host != "" {
		domain = host
	}
	var h bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&h, "%s: %s\r\n", k, v) }
	header("From", fromAddr.String())
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", Subject(ev)))
	header("Date", now.UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+ev.ID+"."+channelID+"@"+domain+">")
	header("Auto-Submitted", "auto-generated")
	header("X-Watchword-Event-Id", ev.ID)
	header("X-Watchword-Event-Type", ev.Type)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	h.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&h)
	if _, err := qp.Write([]byte(strings.ReplaceAll(body(ev), "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return h.Bytes(), nil
}
