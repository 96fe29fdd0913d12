package media

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// ID names one upload: 128 random bits, so that a file's URL cannot be
// guessed or enumerated. Two uploads of the same bytes get two ids (and one
// Sum): access is decided per upload, by the room it was made in.
type ID [16]byte

// idEncoding writes ids as 26 lower-case letters and digits (RFC 4648
// base32 without padding): short in a URL, and never mistaken for a ULID,
// which is upper case.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a new random id from crypto/rand.
func NewID() ID {
	var id ID
	rand.Read(id[:]) // never fails: crypto/rand crashes the program instead
	return id
}

// String returns the id's canonical form, as ParseID reads it.
func (id ID) String() string { return idEncoding.EncodeToString(id[:]) }

// ParseID reads an id in its canonical form (exactly what String returns),
// or returns ErrBadID: a file URL has one spelling only.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != idEncoding.EncodedLen(len(id)) {
		return ID{}, fmt.Errorf("%w: %d characters", ErrBadID, len(s))
	}
	if n, err := idEncoding.Decode(id[:], []byte(s)); err != nil || n != len(id) || id.String() != s {
		return ID{}, fmt.Errorf("%w: %q", ErrBadID, s)
	}
	return id, nil
}

// Sum is a file's content address: the SHA-256 of the bytes stored (after
// stripping), the same for every upload of the same content.
type Sum [sha256.Size]byte

// String returns the sum in lower-case hex.
func (s Sum) String() string { return hex.EncodeToString(s[:]) }

// ParseSum reads a sum in lower-case hex, or returns ErrBadID.
func ParseSum(s string) (Sum, error) {
	var sum Sum
	if len(s) != hex.EncodedLen(len(sum)) || strings.ToLower(s) != s {
		return Sum{}, fmt.Errorf("%w: not a SHA-256 in lower-case hex", ErrBadID)
	}
	if _, err := hex.Decode(sum[:], []byte(s)); err != nil {
		return Sum{}, fmt.Errorf("%w: not a SHA-256 in lower-case hex", ErrBadID)
	}
	return sum, nil
}

// Digest counts and hashes what is written to it: wrap a file's store
// writer in one to learn its Size and Sum as it streams.
type Digest struct {
	h hash.Hash
	n int64
}

// NewDigest returns an empty Digest.
func NewDigest() *Digest { return &Digest{h: sha256.New()} }

// Write adds p; it never fails.
func (d *Digest) Write(p []byte) (int, error) {
	d.n += int64(len(p))
	return d.h.Write(p)
}

// Size returns how many bytes were written.
func (d *Digest) Size() int64 { return d.n }

// Sum returns the SHA-256 of what was written.
func (d *Digest) Sum() Sum {
	var s Sum
	d.h.Sum(s[:0])
	return s
}
