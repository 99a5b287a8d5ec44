package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Standard Webhooks (https://www.standardwebhooks.com) headers and the
// prefix of a signing secret.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
	SecretPrefix    = "whsec_"
)

// Signing secret sizes: the specification asks for 24 to 64 random bytes.
const (
	secretBytes    = 32
	minSecretBytes = 24
	maxSecretBytes = 64
)

// NewSigningSecret returns a new random signing secret in the Standard
// Webhooks form: "whsec_" and the base64 of 32 random bytes.
func NewSigningSecret() string {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ParseSigningSecret returns the key of a "whsec_<base64>" signing secret.
func ParseSigningSecret(s string) ([]byte, error) {
	raw, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("a signing secret starts with %q", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, errors.New("a signing secret is whsec_ and standard base64")
	}
	if len(key) < minSecretBytes || len(key) > maxSecretBytes {
		return nil, fmt.Errorf("a signing secret holds %d to %d bytes, not %d", minSecretBytes, maxSecretBytes, len(key))
	}
	return key, nil
}

// SigningSecretAAD binds an encrypted signing secret to its channel and id,
// so that a ciphertext copied to another channel does not decrypt.
func SigningSecretAAD(channelID, secretID string) []byte {
	return []byte("watchword webhook signing secret\x00" + channelID + "\x00" + secretID)
}

// Sign returns the webhook-signature header value for the message: one
// "v1,<base64 HMAC-SHA-256 of id.timestamp.body>" per key, separated by
// spaces, so that a receiver holding any one of the keys can verify it.
func Sign(keys [][]byte, id string, timestamp time.Time, body []byte) string {
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(strconv.FormatInt(timestamp.Unix(), 10)))
		m.Write([]byte{'.'})
		m.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return strings.Join(sigs, " ")
}

// maxResponseSnippet bounds how much of a failed response goes into the
// notification's last_error.
const maxResponseSnippet = 256

// postWebhook POSTs body to url signed with keys. Any answer but 2xx is an
// error that names the status and the start of the response.
func postWebhook(ctx context.Context, hc *http.Client, url, id string, timestamp time.Time, keys [][]byte, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Watchword-Webhooks/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(timestamp.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(keys, id, timestamp, body))
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseSnippet))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook: HTTP %d %s", resp.StatusCode, printable(snippet))
	}
	return nil
}

// printable keeps the valid UTF-8 printable part of a response for an
// error message.
func printable(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < ' ' && r != '\t' {
			return ' '
		}
		return r
	}, string(b))
	return strings.TrimSpace(s)
}
