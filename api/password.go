package api

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password rules.
const (
	minPasswordLen = 8    // runes
	maxPasswordLen = 1024 // bytes: hashing cost must not be the client's choice
)

// passwordHasher hashes passwords with argon2id, at most one hash per CPU at
// a time: each takes memKiB of memory, and a burst of logins must not take
// the server's memory with it.
type passwordHasher struct {
	time   uint32
	memKiB uint32
	slots  chan struct{}
}

func newPasswordHasher(time, memKiB uint32) *passwordHasher {
	return &passwordHasher{time: time, memKiB: memKiB, slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

// checkPassword enforces the password rules.
func checkPassword(pw string) error {
	switch {
	case len(pw) > maxPasswordLen:
		return errorf(http.StatusBadRequest, "password: at most %d bytes", maxPasswordLen)
	case utf8.RuneCountInString(pw) < minPasswordLen:
		return errorf(http.StatusBadRequest, "password: at least %d characters", minPasswordLen)
	}
	return nil
}

// hash returns the PHC-style encoding of pw's argon2id hash with a fresh
// salt: $argon2id$v=19$m=...,t=...,p=1$salt$key.
func (h *passwordHasher) hash(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := h.derive(pw, salt, h.time, h.memKiB)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=1$%s$%s", argon2.Version, h.memKiB, h.time, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// verify reports whether pw matches encoded, with the parameters encoded
// names (so they can change without invalidating stored hashes). A
// malformed encoding is an error.
func (h *passwordHasher) verify(pw, encoded string) (bool, error) {
	var version int
	var mem, t uint32
	var p uint8
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("password hash: not argon2id")
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("password hash: unsupported version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil || t == 0 || p == 0 {
		return false, errors.New("password hash: bad parameters")
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 {
		return false, errors.New("password hash: bad encoding")
	}
	got := h.deriveLen(pw, salt, t, mem, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// burn spends the time of one verification, for logins of unknown users:
// answering faster would tell which names exist.
func (h *passwordHasher) burn(pw string) {
	h.derive(pw, make([]byte, 16), h.time, h.memKiB)
}

func (h *passwordHasher) derive(pw string, salt []byte, t, mem uint32) []byte {
	return h.deriveLen(pw, salt, t, mem, 1, 32)
}

func (h *passwordHasher) deriveLen(pw string, salt []byte, t, mem uint32, p uint8, n uint32) []byte {
	h.slots <- struct{}{}
	defer func() { <-h.slots }()
	return argon2.IDKey([]byte(pw), salt, t, mem, p, n)
}
