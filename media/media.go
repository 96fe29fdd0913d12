// Package media is what Parley does to the bytes of an uploaded file before
// they are stored, and how it serves them: it sniffs a file's type from its
// content (never from the name or the Content-Type the client sent), strips
// metadata from JPEG and PNG images without re-encoding them, makes
// thumbnails under a cap on decoded pixels, names files with unguessable ids
// and content addresses, and says which headers a file is served with so
// that nothing uploaded can run as a page of Parley's origin.
//
// It stores nothing: it reads and writes streams and byte slices, and the
// caller (api) decides where the bytes go. Every function is safe for
// concurrent use. Every parser here reads outside input and has a fuzz
// target.
package media

import "errors"

// Errors returned by the package. Callers match them with errors.Is.
var (
	// ErrMalformed is returned when a file that sniffs as JPEG or PNG is not
	// well formed enough to strip or decode (truncated, bad chunk lengths or
	// checksums, no image data). Its metadata cannot be removed, so it must
	// not be stored as it is.
	ErrMalformed = errors.New("malformed image")

	// ErrTooLarge is returned by Process when the input is longer than the
	// limit it was given.
	ErrTooLarge = errors.New("file too large")

	// ErrTooManyPixels is returned by Thumbnail, before anything is decoded,
	// when an image's header declares more pixels than the cap (a
	// decompression bomb, or only a very large image).
	ErrTooManyPixels = errors.New("image has too many pixels")

	// ErrNoThumbnail is returned by Thumbnail for a type it does not make
	// thumbnails of, and when no encoding of the thumbnail fits in its
	// byte limit.
	ErrNoThumbnail = errors.New("no thumbnail for this file")

	// ErrBadID is returned by ParseID and ParseSum for a string that is not
	// the canonical form of an id or a content address.
	ErrBadID = errors.New("malformed file id")
)
