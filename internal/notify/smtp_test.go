package notify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/watchword/watchword/internal/notify"
)

// received is one message the test SMTP server accepted.
type received struct {
	From string
	To   []string
	Data string
	User string // the authenticated user, if any
	TLS  bool   // the message came over TLS
}

// smtpServer is an in-process SMTP server (emersion/go-smtp) that keeps
// what it receives.
type smtpServer struct {
	Host      string
	Port      int
	RootCAs   *x509.CertPool
	user, pwd string

	mu   sync.Mutex
	msgs []received
	wake chan struct{}
}

// startSMTP starts a server on a loopback port: plain with STARTTLS
// offered (mode none or starttls), plain without STARTTLS (mode
// "no-starttls"), or TLS from the first byte (mode tls). With user set it
// offers AUTH PLAIN and requires it.
func startSMTP(t *testing.T, mode, user, pwd string) *smtpServer {
	t.Helper()
	cert, roots := testCert(t)
	s := &smtpServer{RootCAs: roots, user: user, pwd: pwd, wake: make(chan struct{}, 100)}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // mode none with a password: net/smtp allows it to localhost only
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case notify.TLSImplicit:
		l = tls.NewListener(l, srv.TLSConfig)
	case "no-starttls":
		srv.TLSConfig = nil
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	host, port, _ := net.SplitHostPort(l.Addr().String())
	s.Host = host
	s.Port, _ = strconv.Atoi(port)
	return s
}

// Messages returns what the server received so far.
func (s *smtpServer) Messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

// Wait waits until the server has n messages.
func (s *smtpServer) Wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if msgs := s.Messages(); len(msgs) >= n {
			return msgs
		}
		select {
		case <-s.wake:
		case <-deadline:
			t.Fatalf("SMTP server got %d messages, want %d", len(s.Messages()), n)
		}
	}
}

// Mailer returns a mailer for the server.
func (s *smtpServer) Mailer(mode string) *notify.Mailer {
	return &notify.Mailer{
		Host: s.Host, Port: s.Port, Username: s.user, Password: s.pwd, From: "Watchword <watchword@example.org>", TLS: mode,
		TLSConfig: &tls.Config{RootCAs: s.RootCAs}, Timeout: 10 * time.Second,
	}
}

func (s *smtpServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &smtpSession{srv: s, conn: c, msg: received{TLS: isTLS}}, nil
}

type smtpSession struct {
	srv  *smtpServer
	conn *smtp.Conn
	msg  received
}

func (s *smtpSession) AuthMechanisms() []string {
	if s.srv.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pwd string) error {
		if user != s.srv.user || pwd != s.srv.pwd {
			return errors.New("invalid credentials")
		}
		s.msg.User = user
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && s.msg.User == "" {
		return smtp.ErrAuthRequired
	}
	s.msg.From = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := s.msg
	m.Data = string(b)
	_, m.TLS = s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, m)
	s.srv.mu.Unlock()
	s.srv.wake <- struct{}{}
	return nil
}

func (s *smtpSession) Reset()        { s.msg.From, s.msg.To = "", nil }
func (s *smtpSession) Logout() error { return nil }

// testCert returns a self-signed certificate for 127.0.0.1 and a pool that
// trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestMailer sends a message in each connection mode to a real SMTP server
// and checks what it received.
func TestMailer(t *testing.T) {
	for _, tc := range []struct {
		mode, user string
		wantTLS    bool
	}{
		{notify.TLSNone, "", false},
		{notify.TLSNone, "relay", false}, // credentials in the clear: localhost only
		{notify.TLSStartTLS, "relay", true},
		{notify.TLSImplicit, "relay", true},
	} {
		t.Run(tc.mode+"/"+tc.user, func(t *testing.T) {
			srv := startSMTP(t, tc.mode, tc.user, "s3cret-pw")
			m := srv.Mailer(tc.mode)
			msg := []byte("Subject: hello\r\n\r\nbody line\r\n")
			if err := m.Send(t.Context(), []string{"ops@example.org", "dev@example.org"}, msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.Wait(t, 1)[0]
			if got.From != "watchword@example.org" || strings.Join(got.To, ",") != "ops@example.org,dev@example.org" ||
				got.User != tc.user || got.TLS != tc.wantTLS || !strings.Contains(got.Data, "body line") {
				t.Errorf("received %+v", got)
			}
		})
	}
}

func TestMailerFailures(t *testing.T) {
	srv := startSMTP(t, notify.TLSNone, "relay", "s3cret-pw")
	for _, tc := range []struct {
		name string
		edit func(m *notify.Mailer)
		want string
	}{
		{"wrong password", func(m *notify.Mailer) { m.Password = "nope" }, "AUTH"},
		{"implicit tls to a plain server", func(m *notify.Mailer) { m.TLS = notify.TLSImplicit }, "tls"},
		{"no server", func(m *notify.Mailer) { m.Port = 1 }, "smtp"},
		{"no host", func(m *notify.Mailer) { m.Host = "" }, "no SMTP settings"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := srv.Mailer(notify.TLSNone)
			tc.edit(m)
			err := m.Send(t.Context(), []string{"ops@example.org"}, []byte("Subject: x\r\n\r\nx\r\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Send = %v, want an error mentioning %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret-pw") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
	// With starttls, a server that does not offer STARTTLS gets nothing
	// rather than the message (and password) in the clear.
	plain := startSMTP(t, "no-starttls", "relay", "s3cret-pw")
	err := plain.Mailer(notify.TLSStartTLS).Send(t.Context(), []string{"a@example.org"}, []byte("Subject: x\r\n\r\nx\r\n"))
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Errorf("Send(starttls) to a server without it = %v, want a refusal", err)
	}
	if got := plain.Messages(); len(got) != 0 {
		t.Errorf("the server received %d messages", len(got))
	}
}
