package notify_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/notify"
	"github.com/watchword/watchword/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newSecret(t *testing.T) (string, []byte) {
	t.Helper()
	s := notify.NewSigningSecret()
	key, err := notify.ParseSigningSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, key
}

// TestSignatureVerifiedByLibrary checks our signatures with the Standard
// Webhooks reference library for Go: one signing secret, and two during a
// rotation (either one verifies).
func TestSignatureVerifiedByLibrary(t *testing.T) {
	s1, k1 := newSecret(t)
	s2, k2 := newSecret(t)
	s3, _ := newSecret(t)
	body := []byte(`{"id":"evt_1","type":"secret.expiring","timestamp":"2026-04-01T05:00:00Z","data":{}}`)
	now := time.Now()
	headers := func(keys ...[]byte) http.Header {
		h := http.Header{}
		h.Set(notify.HeaderID, "evt_1")
		h.Set(notify.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(notify.HeaderSignature, notify.Sign(keys, "evt_1", now, body))
		return h
	}
	for _, tc := range []struct {
		name    string
		keys    [][]byte
		secret  string
		payload []byte
		ok      bool
	}{
		{"one secret", [][]byte{k1}, s1, body, true},
		{"rotation, old secret", [][]byte{k2, k1}, s1, body, true},
		{"rotation, new secret", [][]byte{k2, k1}, s2, body, true},
		{"other secret", [][]byte{k2, k1}, s3, body, false},
		{"tampered body", [][]byte{k1}, s1, append(bytes.Clone(body), ' '), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wh, err := standardwebhooks.NewWebhook(tc.secret)
			if err != nil {
				t.Fatal(err)
			}
			h := headers(tc.keys...)
			if got := len(strings.Fields(h.Get(notify.HeaderSignature))); got != len(tc.keys) {
				t.Errorf("%d signatures for %d keys: %q", got, len(tc.keys), h.Get(notify.HeaderSignature))
			}
			err = wh.Verify(tc.payload, h)
			if (err == nil) != tc.ok {
				t.Errorf("Verify = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestSignatureVector is the example of the Standard Webhooks specification
// (its reference libraries' tests use it too).
func TestSignatureVector(t *testing.T) {
	key, err := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := notify.Sign([][]byte{key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

func TestParseSigningSecret(t *testing.T) {
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"whsec_" + b64(24), true},
		{"whsec_" + b64(64), true},
		{"whsec_" + b64(23), false},
		{"whsec_" + b64(65), false},
		{b64(32), false},
		{"whsec_not base64!", false},
	} {
		if _, err := notify.ParseSigningSecret(tc.in); (err == nil) != tc.ok {
			t.Errorf("ParseSigningSecret(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
	a, b := notify.NewSigningSecret(), notify.NewSigningSecret()
	if a == b || !strings.HasPrefix(a, "whsec_") {
		t.Errorf("NewSigningSecret = %q, %q", a, b)
	}
}

func sampleEvent() watchword.Event {
	exp := time.Date(2026, 4, 11, 5, 0, 0, 0, time.UTC)
	return watchword.Event{
		ID: "evt_0123456789abcdef", Type: watchword.EventSecretExpiring, Timestamp: time.Date(2026, 4, 1, 5, 0, 1, 0, time.UTC),
		Data: watchword.EventData{
			Domain: watchword.EventRef{ID: "d1", Name: "default"},
			Client: watchword.EventRef{ID: "c1", Name: "billing-api"},
			Secret: watchword.EventSecret{
				ID: "s1", Hint: "ab12", Description: "prod\r\nBcc: evil@example.org", CreatedAt: exp.Add(-30 * 24 * time.Hour), ExpiresAt: &exp,
			},
			Actor: "system", ThresholdDays: 10,
		},
	}
}

// TestMessage checks the email of an event: headers that cannot be
// injected into, a Message-ID that is the same on every attempt, the facts
// in the body.
func TestMessage(t *testing.T) {
	ev := sampleEvent()
	to := []string{"ops@example.org", "dev@example.org"}
	raw, err := notify.Message("Watchword <watchword@example.org>", to, ev, "ch1", time.Date(2026, 4, 1, 5, 0, 2, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	again, err := notify.Message("Watchword <watchword@example.org>", to, ev, "ch1", time.Date(2026, 4, 1, 6, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v\n%s", err, raw)
	}
	m2, _ := mail.ReadMessage(bytes.NewReader(again))
	if id := msg.Header.Get("Message-ID"); id == "" || id != m2.Header.Get("Message-ID") || !strings.Contains(id, ev.ID) {
		t.Errorf("Message-ID %q and %q, want the same, naming the event", id, m2.Header.Get("Message-ID"))
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[Watchword] Secret …ab12 of client billing-api expires in 10 days (default)"; subject != want {
		t.Errorf("Subject = %q, want %q", subject, want)
	}
	for k, want := range map[string]string{
		"To": "ops@example.org, dev@example.org", "X-Watchword-Event-Id": ev.ID, "X-Watchword-Event-Type": ev.Type,
		"Auto-Submitted": "auto-generated", "Bcc": "",
	} {
		if got := msg.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"billing-api (c1)", "s1, ending …ab12", "2026-04-11 05:00:00 UTC", "Last used:     never", "prod  Bcc: evil@example.org", ev.ID} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestSubjects(t *testing.T) {
	for typ, want := range map[string]string{
		watchword.EventSecretCreated:      "[Watchword] New secret …ab12 for client billing-api (default)",
		watchword.EventSecretRotated:      "[Watchword] Client billing-api rotated to secret …ab12 (default)",
		watchword.EventSecretRevoked:      "[Watchword] Secret …ab12 of client billing-api revoked (default)",
		watchword.EventSecretExpired:      "[Watchword] Secret …ab12 of client billing-api has expired (default)",
		watchword.EventSecretStillInUse:   "[Watchword] Secret …ab12 of client billing-api is still in use and stops working at 2026-04-02 03:00:00 UTC (default)",
		watchword.EventRotationStarted:    "[Watchword] Rotation of client billing-api started (default)",
		watchword.EventRotationCompleted:  "[Watchword] Rotation of client billing-api completed (default)",
		watchword.EventRotationFailed:     "[Watchword] Rotation of client billing-api FAILED at deliver (default)",
		watchword.EventRotationRolledBack: "[Watchword] Rotation of client billing-api rolled back (default)",
	} {
		ev := runEvent()
		ev.Type = typ
		if got := notify.Subject(ev); got != want {
			t.Errorf("Subject(%s) = %q, want %q", typ, got, want)
		}
	}
}

// runEvent is sampleEvent as a rotation run reports it.
func runEvent() watchword.Event {
	ev := sampleEvent()
	end := time.Date(2026, 4, 2, 3, 0, 0, 0, time.UTC)
	ev.Data.RunID, ev.Data.RunStep, ev.Data.Reason, ev.Data.TransitionEnd = "run_x1", watchword.StepDeliver, "target deploy: answered 500", &end
	return ev
}

// TestRunEventBody: a failed run's email says which run, where and why.
func TestRunEventBody(t *testing.T) {
	ev := runEvent()
	ev.Type = watchword.EventRotationFailed
	body := mailBody(t, ev)
	for _, want := range []string{"failed and was rolled back", "Run:           run_x1, step deliver", "Reason:        target deploy: answered 500", "watchword rotation retry"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

// TestRunEventBodyWithoutSecret: a run that failed before creating its
// secret mails no empty secret lines.
func TestRunEventBodyWithoutSecret(t *testing.T) {
	ev := runEvent()
	ev.Type, ev.Data.RunStep, ev.Data.Secret = watchword.EventRotationFailed, watchword.StepCreate, watchword.EventSecret{}
	body := mailBody(t, ev)
	if !strings.Contains(body, "step create") || strings.Contains(body, "Secret:") || strings.Contains(body, "0001") {
		t.Errorf("body:\n%s", body)
	}
}

// mailBody is the decoded text of the email of ev.
func mailBody(t *testing.T, ev watchword.Event) string {
	t.Helper()
	raw, err := notify.Message("watchword@example.org", []string{"ops@example.org"}, ev, "ch1", time.Date(2026, 4, 1, 5, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func TestBackoff(t *testing.T) {
	d := &notify.Dispatcher{}
	var got []string
	for n := 1; n <= 10; n++ {
		got = append(got, d.Backoff(n).String())
	}
	want := "[1m0s 2m0s 4m0s 8m0s 16m0s 32m0s 1h4m0s 2h8m0s 4h16m0s 6h0m0s]"
	if fmt.Sprint(got) != want {
		t.Errorf("Backoff(1..10) = %v, want %s", got, want)
	}
}
