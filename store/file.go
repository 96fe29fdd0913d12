package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// MaxFilesPerMessage is how many files one message may carry.
const MaxFilesPerMessage = 10

// File is an upload: what the log knows of bytes a Blobs keeps. A file
// belongs to one room and, once a message carries it, to that message.
type File struct {
	ID       string    // FileIDLen lower-case base32 characters, random
	Room     string    // the room it was uploaded to
	Name     string    // as the uploader named it (cleaned by the caller)
	Size     int64     // bytes
	Type     string    // the sniffed media type
	SHA256   string    // of the bytes, lower-case hex: the object's name in Blobs
	Uploader string    // the author who may attach it
	Time     time.Time // of the upload
	// Message is the message that carries the file; zero while the upload
	// is pending (not yet attached).
	Message ulid.ULID
	// Thumb is the thumbnail, once made (its SHA256 empty until then).
	Thumb Thumb
}

// Thumb is a file's thumbnail: another object of Blobs; or, with None
// set and no SHA256, the verdict that none can be made (a decompression
// bomb, a damaged image).
type Thumb struct {
	SHA256 string `json:"sha256,omitempty"`
	Type   string `json:"type,omitempty"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	None   bool   `json:"none,omitempty"`
}

// CheckNew checks the fields of an upload that Files.AddFile needs: ID,
// Room, Uploader and SHA256 well formed, Size not negative. It returns a
// *ValidationError.
func (f File) CheckNew() error {
	if err := ValidateFileID(f.ID); err != nil {
		return err
	}
	if err := ValidateRoom(f.Room); err != nil {
		return err
	}
	if err := ValidateAuthor(f.Uploader); err != nil {
		return err
	}
	if err := ValidateSHA256(f.SHA256); err != nil {
		return err
	}
	if f.Size < 0 {
		return invalid("size", "is negative")
	}
	return nil
}

// Pending reports whether no message carries f yet.
func (f File) Pending() bool { return f.Message == (ulid.ULID{}) }

// Ref is how a message event describes f.
func (f File) Ref() FileRef {
	return FileRef{ID: f.ID, Name: f.Name, Size: f.Size, Type: f.Type, SHA256: f.SHA256}
}

// FileRef is a file as a message event carries it. A client posting a
// message gives only the ids; the log fills in the rest from the file
// records, in the message's own transaction, so history, streams and
// exports describe each file without a second lookup.
type FileRef struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Size   int64  `json:"size"`
	Type   string `json:"type,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// FileIDLen is the length of a file id: 128 random bits in base32.
const FileIDLen = 26

const fileIDAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// ValidateFileID reports whether s is a file id in its one canonical
// spelling: 26 characters of a–z and 2–7 encoding 128 bits (the last
// character's two spare bits zero), as media.NewID writes them.
func ValidateFileID(s string) error {
	if len(s) != FileIDLen {
		return invalid("files", fmt.Sprintf("%q is not a file id", s))
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(fileIDAlphabet, s[i]) < 0 {
			return invalid("files", fmt.Sprintf("%q is not a file id", s))
		}
	}
	if strings.IndexByte(fileIDAlphabet, s[len(s)-1])&3 != 0 {
		return invalid("files", fmt.Sprintf("%q is not a file id", s))
	}
	return nil
}

// ValidateSHA256 reports whether s is a SHA-256 in lower-case hex.
func ValidateSHA256(s string) error {
	if len(s) != 64 {
		return invalid("sha256", "must be 64 lower-case hex digits")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return invalid("sha256", "must be 64 lower-case hex digits")
		}
	}
	return nil
}

// validateFiles checks the files of a message event as far as the event
// alone tells: at most MaxFilesPerMessage, ids well spelled, no repeats.
func validateFiles(refs []FileRef) error {
	if len(refs) > MaxFilesPerMessage {
		return invalid("files", fmt.Sprintf("at most %d files per message", MaxFilesPerMessage))
	}
	for i, r := range refs {
		if err := ValidateFileID(r.ID); err != nil {
			return err
		}
		for _, o := range refs[:i] {
			if o.ID == r.ID {
				return invalid("files", fmt.Sprintf("file %s is given twice", r.ID))
			}
		}
	}
	return nil
}

// CheckAttach applies the rule every log checks, in the message's own
// transaction, before message e carries file f: f was uploaded to e's room
// by e's author and no message carries it yet. Files are not shared
// between messages: a second message with the same content uploads it
// again (the bytes are stored once).
func CheckAttach(f File, e Event) error {
	if f.Room != e.Room || f.Uploader != e.Author || !f.Pending() {
		return invalid("files", fmt.Sprintf("%s is not an upload of yours in this room waiting for a message", f.ID))
	}
	return nil
}

// Quota bounds what AddFile accepts, in bytes; zero fields bound nothing.
type Quota struct {
	User int64 // the bytes of the uploader's registered files
	Room int64 // the bytes of the room's registered files
}

// QuotaError says which quota an upload would exceed. It wraps ErrQuota.
type QuotaError struct {
	Room  bool  // the room's quota, else the uploader's
	Limit int64 // bytes
}

func (e *QuotaError) Error() string {
	if e.Room {
		return fmt.Sprintf("this room's storage quota (%d bytes) is used up", e.Limit)
	}
	return fmt.Sprintf("your storage quota (%d bytes) is used up", e.Limit)
}

// Unwrap makes errors.Is(err, ErrQuota) true.
func (e *QuotaError) Unwrap() error { return ErrQuota }

// ErrQuota is returned (as a *QuotaError) by AddFile when a quota would be
// exceeded.
var ErrQuota = errors.New("storage quota exceeded")

// Usage is the bytes of registered files charged to an uploader and a
// room. Quotas count what uploaders sent, not deduplicated bytes.
type Usage struct {
	User, Room int64
}

// FileStats count a file store's objects, for metrics and verify.
type FileStats struct {
	Files   int64 // file records, pending or attached
	Pending int64 // not attached to a message
	Objects int64 // distinct contents referenced (thumbnails included)
	Erasing int64 // objects whose last reference went, not yet erased
}

// Files keeps the records of uploaded files beside a Log; the bytes are in
// its Blobs. Every implementation keeps these promises, which
// store/storetest checks (RunFiles):
//
//   - Durable first: AddFile registers a file only if its object is in
//     Blobs already (Blobs.Commit returns once the bytes are durable), and
//     returns once the record is durable. So a message, which can only
//     carry registered files, never references bytes that a crash could
//     lose.
//   - Attach in the message's transaction: Log.Append of a message whose
//     Files name ids checks each with CheckAttach and stores the message
//     with the files' descriptors (FileRef) in one step; a failed check is
//     a *ValidationError for that message alone.
//   - Release: a file stops existing (File returns ErrNotFound) when the
//     message carrying it is deleted or pruned by retention, or when it
//     was never attached and CollectFiles passes its time. Its name is
//     then gone from the records. An object that no remaining file
//     references (thumbnails count) is erased from Blobs in the
//     background, promptly; one still referenced stays.
//   - Imports: Log.Import of a message event carrying files registers them
//     (ids kept, attached) if their objects are in Blobs, and fails the
//     import otherwise or if an id exists with other content.
//
// All methods are safe for concurrent use.
type Files interface {
	// AddFile registers an upload: f's ID, Room, Name, Size, Type, SHA256
	// and Uploader must be set; Time is set by the store. The file is
	// pending until a message carries it. Errors: a *ValidationError for
	// bad fields or an id in use; ErrNotFound when Blobs has no object
	// f.SHA256 of f.Size bytes (it may have been erased since it was
	// written: upload again); a *QuotaError.
	AddFile(ctx context.Context, f File, q Quota) (File, error)

	// File returns the record of file id, attached or pending; ErrNotFound
	// if there is none (never was, or released).
	File(ctx context.Context, id string) (File, error)

	// SetThumb records file id's thumbnail, whose object must be in Blobs,
	// or (t.None) that it has none. The first call wins. ErrNotFound if the
	// file is gone.
	SetThumb(ctx context.Context, id string, t Thumb) error

	// FileUsage returns the bytes charged to uploader and to room.
	FileUsage(ctx context.Context, uploader, room string) (Usage, error)

	// CollectFiles releases pending files uploaded before the time given,
	// and returns how many. The store also collects on its own, in the
	// background, with its configured age.
	CollectFiles(ctx context.Context, before time.Time) (int, error)

	// BackupFiles is Log.Backup with the files: it writes the copy to w,
	// then calls object with every object the copy references (thumbnails
	// included), from the same snapshot. No object the copy references is
	// erased before BackupFiles returns, so object can read each from
	// Blobs.
	BackupFiles(w io.Writer, size func(int64), object func(sum string) error) (int64, error)

	// FileStats counts records and objects.
	FileStats(ctx context.Context) (FileStats, error)

	// Blobs is where the bytes are.
	Blobs() Blobs
}

// Blobs keeps objects: immutable contents named by their SHA-256. A disk
// directory is one implementation; an object store could be another.
// All methods are safe for concurrent use.
type Blobs interface {
	// Create starts a new object. Nothing written is visible until Commit.
	Create() (BlobWriter, error)
	// Open opens object sum for reading; ErrNotFound if absent.
	Open(sum string) (Blob, error)
	// Stat returns object sum's size; ErrNotFound if absent.
	Stat(sum string) (size int64, err error)
	// Erase overwrites object sum, makes that durable and removes it. An
	// absent object is no error.
	Erase(sum string) error
	// Walk calls fn for every object, with its size and modification time.
	Walk(fn func(sum string, size int64, mod time.Time) error) error
}

// BlobWriter writes one new object.
type BlobWriter interface {
	io.Writer
	// Commit makes what was written durable and visible under its SHA-256,
	// which it returns with the size. An object of the same content that
	// exists already is kept and the new copy dropped.
	Commit() (sum string, size int64, err error)
	// Abort drops what was written. It is safe after Commit (it does
	// nothing then) and safe to call twice.
	Abort() error
}

// Blob is an object open for reading.
type Blob interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}
