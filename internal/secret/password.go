package secret

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are the cost parameters of argon2id.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen int
	KeyLen  int
}

// DefaultPasswordParams are OWASP's recommended argon2id settings (19 MiB,
// two passes, one lane): about 30 ms per hash on a current core, so that a
// login costs little while an offline guess at a leaked hash costs the
// attacker as much. The parameters are stored in every hash, so raising
// them later leaves existing hashes verifiable.
var DefaultPasswordParams = PasswordParams{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// b64 is the unpadded standard base64 of the PHC string format.
var b64 = base64.RawStdEncoding

// HashPassword hashes a password with argon2id under DefaultPasswordParams
// and a random salt, and returns it in PHC string format:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
func HashPassword(password string) string {
	return HashPasswordWith(DefaultPasswordParams, password)
}

// HashPasswordWith hashes a password under p.
func HashPasswordWith(p PasswordParams, password string) string {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(p.KeyLen))
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Bounds on the parameters a stored hash may ask for, so that a corrupted
// or planted hash cannot make one login allocate gigabytes.
const (
	maxPasswordMemory = 1 << 20 // KiB: 1 GiB
	maxPasswordTime   = 16
)

// ErrMalformedHash reports a stored password hash that is not an argon2id
// PHC string this package can verify.
var ErrMalformedHash = errors.New("malformed argon2id password hash")

// VerifyPassword reports whether password matches the PHC-format argon2id
// hash, comparing in constant time. An empty hash (a user without a
// password) never matches; a malformed one is an error.
func VerifyPassword(password, hash string) (bool, error) {
	if hash == "" {
		BurnPassword(password)
		return false, nil
	}
	p, salt, key, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

var dummyHash = sync.OnceValue(func() string { return HashPassword("watchword dummy password") })

// BurnPassword does the work of one failed VerifyPassword under the default
// parameters. Callers use it when there is no user to check against, so that
// an unknown username costs as much as a wrong password.
func BurnPassword(password string) {
	_, _ = VerifyPassword(password, dummyHash())
}

// parsePHC reads $argon2id$v=19$m=…,t=…,p=…$salt$hash.
func parsePHC(s string) (PasswordParams, []byte, []byte, error) {
	var p PasswordParams
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, ErrMalformedHash
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, threads) != parts[3] {
		return p, nil, nil, ErrMalformedHash
	}
	if p.Time < 1 || p.Time > maxPasswordTime || threads < 1 || threads > 255 || p.Memory < 8*threads || p.Memory > maxPasswordMemory {
		return p, nil, nil, ErrMalformedHash
	}
	p.Threads = uint8(threads)
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, ErrMalformedHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, ErrMalformedHash
	}
	p.SaltLen, p.KeyLen = len(salt), len(key)
	return p, salt, key, nil
}
