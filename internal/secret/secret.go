// Package secret generates, parses and hashes client secrets and admin tokens.
//
// A generated secret looks like
//
//	wwcs_<id:16><random:43><crc:6>
//
// in base62: the prefix lets leak scanners recognise it, the embedded id lets
// the server find the one row to check without trying every secret of a
// client, 43 base62 characters carry 256 bits from crypto/rand, and the CRC32
// checksum of everything before it lets a scanner (and the server) reject a
// mistyped or made-up value without a database lookup.
//
// Secrets are stored only as HMAC-SHA-256 under a server key that is not in
// the database; each hash records the id of the key that made it so that the
// server key can itself be rotated.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
)

const (
	alphabet  = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	IDLen     = 16
	randLen   = 43 // 43 * log2(62) = 256.03 bits
	crcLen    = 6  // 62^6 > 2^32
	bodyLen   = IDLen + randLen + crcLen
	hintLen   = 4
	keyLen    = 32
	maxSecret = 512 // longest presented secret we hash at all
)

// NewID returns a random base62 identifier of IDLen characters (95 bits).
func NewID() string { return randomBase62(IDLen) }

func randomBase62(n int) string {
	// Rejection sampling over bytes keeps every character uniform.
	const maxByte = 255 - (256 % len(alphabet))
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		for _, b := range buf {
			if int(b) <= maxByte && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out)
}

func checksum(s string) string {
	n := crc32.ChecksumIEEE([]byte(s))
	var out [crcLen]byte
	for i := crcLen - 1; i >= 0; i-- {
		out[i] = alphabet[n%uint32(len(alphabet))]
		n /= uint32(len(alphabet))
	}
	return string(out[:])
}

// Generate returns a new secret with the given prefix (for example "wwcs_")
// and the id embedded in it.
func Generate(prefix string) (plaintext, id string) {
	id = NewID()
	body := id + randomBase62(randLen)
	return prefix + body + checksum(prefix+body), id
}

// ParseID returns the id embedded in a generated secret, whatever prefix it
// was generated with (the prefix is configurable and may have changed since).
// ok is false for values that are not well-formed generated secrets, such as
// custom secrets.
func ParseID(plaintext string) (id string, ok bool) {
	if len(plaintext) < bodyLen || len(plaintext) > maxSecret {
		return "", false
	}
	cut := len(plaintext) - crcLen
	if checksum(plaintext[:cut]) != plaintext[cut:] {
		return "", false
	}
	body := plaintext[len(plaintext)-bodyLen:]
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(alphabet, body[i]) < 0 {
			return "", false
		}
	}
	return body[:IDLen], true
}

// Hint returns the last four characters, shown to operators to tell secrets apart.
func Hint(plaintext string) string {
	if len(plaintext) <= hintLen {
		return ""
	}
	return plaintext[len(plaintext)-hintLen:]
}

// Key is one server key used to hash secrets.
type Key struct {
	ID     string
	secret []byte
}

// NewKey wraps raw key material (at least 32 bytes). Its id is derived from
// the material, so the same key has the same id on every instance.
func NewKey(material []byte) (Key, error) {
	if len(material) < keyLen {
		return Key{}, fmt.Errorf("server key must be at least %d bytes, got %d", keyLen, len(material))
	}
	sum := sha256.Sum256(append([]byte("watchword key id\x00"), material...))
	return Key{ID: hex.EncodeToString(sum[:6]), secret: append([]byte(nil), material...)}, nil
}

// ParseKey decodes a hex-encoded key, as found in a key file or the environment.
func ParseKey(s string) (Key, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return Key{}, errors.New("server key must be hex-encoded")
	}
	return NewKey(b)
}

// GenerateKeyHex returns new random key material, hex-encoded.
func GenerateKeyHex() string {
	b := make([]byte, keyLen)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Hasher hashes and verifies secrets under the current server key and any
// older keys still configured.
type Hasher struct {
	current Key
	keys    map[string]Key
	dummy   []byte
}

// NewHasher returns a Hasher that hashes with current and verifies hashes
// made by current or any of previous.
func NewHasher(current Key, previous ...Key) *Hasher {
	h := &Hasher{current: current, keys: map[string]Key{current.ID: current}}
	for _, k := range previous {
		h.keys[k.ID] = k
	}
	h.dummy = h.mac(current, "watchword dummy secret")
	return h
}

func (h *Hasher) mac(k Key, plaintext string) []byte {
	m := hmac.New(sha256.New, k.secret)
	m.Write([]byte(plaintext))
	return m.Sum(nil)
}

// Hash returns the keyed hash of plaintext and the id of the key used.
func (h *Hasher) Hash(plaintext string) (hash []byte, keyID string) {
	return h.mac(h.current, plaintext), h.current.ID
}

// Verify reports whether plaintext matches hash made under keyID, in
// constant time. An unknown key id never matches.
func (h *Hasher) Verify(plaintext string, hash []byte, keyID string) bool {
	k, ok := h.keys[keyID]
	if !ok {
		k = h.current
	}
	sum := h.mac(k, plaintext)
	return subtle.ConstantTimeCompare(sum, hash) == 1 && ok
}

// Burn does the work of one failed Verify. Callers use it when there is no
// stored hash to compare with (unknown client or secret id), so that a miss
// costs the same as a wrong secret.
func (h *Hasher) Burn(plaintext string) {
	subtle.ConstantTimeCompare(h.mac(h.current, plaintext), h.dummy)
}

// boxKey derives the encryption key for data at rest (such as token signing
// keys) from a server key, so the HMAC key itself is never reused as a
// cipher key.
func boxKey(k Key) cipher.AEAD {
	derived, err := hkdf.Key(sha256.New, k.secret, nil, "watchword data at rest", 32)
	if err != nil {
		panic(err) // only for an impossible length
	}
	block, err := aes.NewCipher(derived)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// Seal encrypts plaintext with AES-256-GCM under the current server key;
// aad binds the ciphertext to its context (for example a key id).
func (h *Hasher) Seal(plaintext, aad []byte) (ciphertext []byte, keyID string) {
	aead := boxKey(h.current)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return aead.Seal(nonce, nonce, plaintext, aad), h.current.ID
}

// Open decrypts what Seal made under the server key keyID.
func (h *Hasher) Open(ciphertext []byte, keyID string, aad []byte) ([]byte, error) {
	k, ok := h.keys[keyID]
	if !ok {
		return nil, fmt.Errorf("server key %s is not configured", keyID)
	}
	aead := boxKey(k)
	if len(ciphertext) < aead.NonceSize() {
		return nil, errors.New("ciphertext too short")
	}
	n := aead.NonceSize()
	return aead.Open(nil, ciphertext[:n], ciphertext[n:], aad)
}
