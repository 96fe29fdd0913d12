package bolt

import (
	"context"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// Files (docs/files.md): the bytes are objects of a store.Blobs (by
// default a directory beside the file, Path+".files"); what the log knows
// of them is in these buckets, changed in the same transactions as the
// messages that carry them:
//
//	files/<file id>          the File record, JSON starting {"id":"<id>"
//	fileobjs/<sha256>        8-byte count of the records (and thumbnails)
//	                         referencing the object
//	filepending/<8-byte unix nanos><file id>   uploads no message carries yet
//	fileerase/<sha256>       empty: an object whose last reference went, to
//	                         erase (survives a crash)
//	fileusage/u:<uploader>, fileusage/r:<room>   8-byte bytes charged
//
// and, on a cluster replica (replica_files.go), where the bytes are in the
// cluster's object store:
//
//	fileowner/<sha256>       the name of the object store object holding
//	                         the content, while anything references it
//	objerase/<object name>   empty: an object store object to erase
//	fileadds/<file id>       8-byte stream sequence and 8-byte D (unix ms)
//	                         of the file's registration, then the object
//	                         name it claimed: its erasure on release
var (
	bucketFiles       = []byte("files")
	bucketFileObjs    = []byte("fileobjs")
	bucketFilePending = []byte("filepending")
	bucketFileErase   = []byte("fileerase")
	bucketFileUsage   = []byte("fileusage")
	bucketFileOwner   = []byte("fileowner")
	bucketObjErase    = []byte("objerase")
	bucketFileAdds    = []byte("fileadds")
	fileBuckets       = [][]byte{bucketFiles, bucketFileObjs, bucketFilePending, bucketFileErase, bucketFileUsage, bucketFileOwner, bucketObjErase, bucketFileAdds}
)

// fileState is the DB's share of file work.
type fileState struct {
	// mu is held shared by whoever relies on an object staying between
	// finding it in Blobs and committing a reference to it (AddFile,
	// SetThumb, Import), and exclusively by the eraser from its last check
	// that an object is unreferenced until the object is gone.
	mu   sync.RWMutex
	wake chan struct{} // capacity 1: something to erase
	done chan struct{} // closed when the eraser has stopped
	// lastWalk is when the pruner last looked for objects without a
	// reference; pruner goroutine only.
	lastWalk time.Time
}

// fileRecord is a File's stored shape.
type fileRecord struct {
	ID       string      `json:"id"` // first: the scrubber's anchor
	Room     string      `json:"room"`
	Name     string      `json:"name"`
	Size     int64       `json:"size"`
	Type     string      `json:"type"`
	SHA256   string      `json:"sha256"`
	Uploader string      `json:"uploader"`
	Time     time.Time   `json:"time"`
	Message  string      `json:"message,omitempty"`
	Thumb    store.Thumb `json:"thumb,omitzero"`
}

func encodeFile(f store.File) ([]byte, error) {
	r := fileRecord{ID: f.ID, Room: f.Room, Name: f.Name, Size: f.Size, Type: f.Type, SHA256: f.SHA256,
		Uploader: f.Uploader, Time: f.Time.UTC(), Thumb: f.Thumb}
	if !f.Pending() {
		r.Message = f.Message.String()
	}
	return json.Marshal(r)
}

func decodeFile(v []byte) (store.File, error) {
	var r fileRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return store.File{}, fmt.Errorf("file record: %w", err)
	}
	f := store.File{ID: r.ID, Room: r.Room, Name: r.Name, Size: r.Size, Type: r.Type, SHA256: r.SHA256,
		Uploader: r.Uploader, Time: r.Time, Thumb: r.Thumb}
	if r.Message != "" {
		id, err := ulid.ParseStrict(r.Message)
		if err != nil {
			return f, fmt.Errorf("file record %s: %w", r.ID, err)
		}
		f.Message = id
	}
	return f, nil
}

// getFile reads record id in tx; ErrNotFound if none.
func getFile(tx *bbolt.Tx, id string) (store.File, error) {
	v := tx.Bucket(bucketFiles).Get([]byte(id))
	if v == nil {
		return store.File{}, store.NotFound("file " + id)
	}
	return decodeFile(v)
}

func putFile(tx *bbolt.Tx, f store.File) error {
	v, err := encodeFile(f)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketFiles).Put([]byte(f.ID), v)
}

func pendingKey(f store.File) []byte {
	k := make([]byte, 8, 8+len(f.ID))
	binary.BigEndian.PutUint64(k, uint64(f.Time.UnixNano()))
	return append(k, f.ID...)
}

// addCount adds delta to a counter (an 8-byte value) and returns the result.
func addFileCount(b *bbolt.Bucket, key []byte, delta int64) (int64, error) {
	var n int64
	if v := b.Get(key); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += delta
	if n <= 0 {
		return n, b.Delete(key)
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(n))
	return n, b.Put(key, v[:])
}

func readCount(b *bbolt.Bucket, key []byte) int64 {
	if v := b.Get(key); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v))
	}
	return 0
}

// reference counts one more reference to object sum, which is no longer to
// be erased.
func reference(tx *bbolt.Tx, sum string) error {
	if _, err := addFileCount(tx.Bucket(bucketFileObjs), []byte(sum), 1); err != nil {
		return err
	}
	return tx.Bucket(bucketFileErase).Delete([]byte(sum))
}

// unreference counts one reference less to object sum, queueing it for
// erasure at zero (and, on a replica, its object store object). It
// reports whether it queued.
func unreference(tx *bbolt.Tx, sum string) (bool, error) {
	n, err := addFileCount(tx.Bucket(bucketFileObjs), []byte(sum), -1)
	if err != nil || n > 0 {
		return false, err
	}
	if err := disown(tx, sum); err != nil {
		return false, err
	}
	return true, tx.Bucket(bucketFileErase).Put([]byte(sum), []byte{})
}

func charge(tx *bbolt.Tx, f store.File, sign int64) error {
	u := tx.Bucket(bucketFileUsage)
	if _, err := addFileCount(u, []byte("u:"+f.Uploader), sign*f.Size); err != nil {
		return err
	}
	_, err := addFileCount(u, []byte("r:"+f.Room), sign*f.Size)
	return err
}

// releaseFile removes record id, its charge and its references, and
// queues the record's stale copies (its name) for the scrubber. It reports
// whether an object was queued for erasure.
func releaseFile(tx *bbolt.Tx, id string) (bool, error) {
	f, err := getFile(tx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := tx.Bucket(bucketFiles).Delete([]byte(id)); err != nil {
		return false, err
	}
	if err := tx.Bucket(bucketScrub).Put(fileIDKey(id), []byte(scrubFileMark)); err != nil {
		return false, err
	}
	if f.Pending() {
		if err := tx.Bucket(bucketFilePending).Delete(pendingKey(f)); err != nil {
			return false, err
		}
	}
	if err := charge(tx, f, -1); err != nil {
		return false, err
	}
	if err := eraseRegistration(tx, f); err != nil {
		return false, err
	}
	queued, err := unreference(tx, f.SHA256)
	if err != nil || f.Thumb.SHA256 == "" {
		return queued, err
	}
	q, err := unreference(tx, f.Thumb.SHA256)
	return queued || q, err
}

// scrubFileMark is the scrub bucket's value for a released file's record:
// the key is the file id's 16 bytes, the anchor its text.
const scrubFileMark = "\x00file"

var fileIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// fileIDKey is a (valid) file id's 16 bytes.
func fileIDKey(id string) []byte {
	b, _ := fileIDEncoding.DecodeString(id)
	return b
}

// fileIDText is the file id of 16 bytes.
func fileIDText(k []byte) string { return fileIDEncoding.EncodeToString(k) }

// isFileIDText tells a file id from a ULID's text, which is upper case and
// uses 0, 1, 8 and 9, which a file id never does.
func isFileIDText(id string) bool {
	return store.ValidateFileID(id) == nil && strings.ContainsAny(id, "abcdefghijklmnopqrstuvwxyz")
}

// Blobs implements store.Files.
func (d *DB) Blobs() store.Blobs { return d.BlobStore }

// AddFile implements store.Files.
func (d *DB) AddFile(ctx context.Context, f store.File, q store.Quota) (store.File, error) {
	if err := f.CheckNew(); err != nil {
		return store.File{}, err
	}
	f.Time, f.Message, f.Thumb = d.Now().UTC(), ulid.ULID{}, store.Thumb{}
	d.files.mu.RLock()
	defer d.files.mu.RUnlock()
	size, err := d.BlobStore.Stat(f.SHA256)
	if err != nil {
		return store.File{}, err
	}
	if size != f.Size {
		return store.File{}, store.Invalid("size", fmt.Sprintf("is %d, the object has %d bytes", f.Size, size))
	}
	// In the writer's transaction: the record shares the appends' commit
	// rather than taking bbolt's lock (and two fsyncs) from them.
	err = d.inWriter(ctx, func(tx *bbolt.Tx) (appendResult, error) {
		if tx.Bucket(bucketFiles).Get([]byte(f.ID)) != nil {
			return appendResult{err: store.Invalid("id", "file id in use")}, nil
		}
		u := tx.Bucket(bucketFileUsage)
		if q.User > 0 && readCount(u, []byte("u:"+f.Uploader))+f.Size > q.User {
			return appendResult{err: &store.QuotaError{Limit: q.User}}, nil
		}
		if q.Room > 0 && readCount(u, []byte("r:"+f.Room))+f.Size > q.Room {
			return appendResult{err: &store.QuotaError{Room: true, Limit: q.Room}}, nil
		}
		// Nothing is refused past this point: an error aborts the commit.
		if err := putFile(tx, f); err != nil {
			return appendResult{}, err
		}
		if err := tx.Bucket(bucketFilePending).Put(pendingKey(f), []byte{}); err != nil {
			return appendResult{}, err
		}
		if err := charge(tx, f, 1); err != nil {
			return appendResult{}, err
		}
		return appendResult{}, reference(tx, f.SHA256)
	})
	if err != nil {
		return store.File{}, err
	}
	return f, nil
}

// File implements store.Files.
func (d *DB) File(ctx context.Context, id string) (store.File, error) {
	var f store.File
	err := d.view(func(tx *bbolt.Tx) error {
		var err error
		f, err = getFile(tx, id)
		return err
	})
	return f, err
}

// SetThumb implements store.Files.
func (d *DB) SetThumb(ctx context.Context, id string, t store.Thumb) error {
	if t.None {
		t = store.Thumb{None: true}
	} else if err := store.ValidateSHA256(t.SHA256); err != nil {
		return err
	}
	d.files.mu.RLock()
	defer d.files.mu.RUnlock()
	if !t.None {
		if _, err := d.BlobStore.Stat(t.SHA256); err != nil {
			return err
		}
	}
	return d.inWriter(ctx, func(tx *bbolt.Tx) (appendResult, error) {
		f, err := getFile(tx, id)
		if err != nil || f.Thumb != (store.Thumb{}) {
			return appendResult{err: err}, nil
		}
		f.Thumb = t
		if err := putFile(tx, f); err != nil || t.None {
			return appendResult{}, err
		}
		return appendResult{}, reference(tx, t.SHA256)
	})
}

// FileUsage implements store.Files.
func (d *DB) FileUsage(ctx context.Context, uploader, room string) (store.Usage, error) {
	var u store.Usage
	err := d.view(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketFileUsage)
		u.User, u.Room = readCount(b, []byte("u:"+uploader)), readCount(b, []byte("r:"+room))
		return nil
	})
	return u, err
}

// FileStats implements store.Files.
func (d *DB) FileStats(ctx context.Context) (store.FileStats, error) {
	var s store.FileStats
	err := d.view(func(tx *bbolt.Tx) error {
		s.Files = int64(tx.Bucket(bucketFiles).Stats().KeyN)
		s.Pending = int64(tx.Bucket(bucketFilePending).Stats().KeyN)
		s.Objects = int64(tx.Bucket(bucketFileObjs).Stats().KeyN)
		s.Erasing = int64(tx.Bucket(bucketFileErase).Stats().KeyN)
		return nil
	})
	return s, err
}

// CollectFiles implements store.Files: pending uploads older than before
// are released, in small transactions.
func (d *DB) CollectFiles(ctx context.Context, before time.Time) (int, error) {
	var limit [8]byte
	binary.BigEndian.PutUint64(limit[:], uint64(before.UnixNano()))
	total := 0
	for {
		n, queued := 0, false
		err := d.update(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketFilePending).Cursor()
			var ids []string
			for k, _ := c.First(); k != nil && len(ids) < pruneChunk && string(k[:8]) < string(limit[:]); k, _ = c.Next() {
				ids = append(ids, string(k[8:]))
			}
			for _, id := range ids {
				q, err := releaseFile(tx, id)
				if err != nil {
					return err
				}
				queued = queued || q
			}
			n = len(ids)
			return nil
		})
		if err == nil && queued {
			d.wakeEraser()
		}
		if err == nil && n > 0 {
			d.scrubs.queued(n) // the records' stale copies
		}
		total += n
		if err != nil || n < pruneChunk {
			return total, err
		}
	}
}

// fileRefs is the follower that attaches files to the messages carrying
// them and releases them when the message is deleted or pruned.
type fileRefs struct{ d *DB }

// follow implements follower.
func (fr fileRefs) follow(tx *bbolt.Tx, room string, old, new *store.Message) error {
	switch {
	case old == nil && new != nil:
		for _, ref := range new.Files {
			if err := fr.attach(tx, room, new, ref); err != nil {
				return err
			}
		}
	case old != nil && len(old.Files) > 0 && (new == nil || len(new.Files) == 0):
		for _, ref := range old.Files {
			q, err := releaseFile(tx, ref.ID)
			if err != nil {
				return err
			}
			if q {
				fr.d.eraseQueued.Store(true)
			}
			fr.d.releasedFiles.Add(1)
		}
	}
	return nil
}

// attach marks file ref as carried by message m: an upload the writer has
// checked (CheckAttach), or, for an import, a file the log does not know
// yet, registered here if its object is in Blobs.
func (fr fileRefs) attach(tx *bbolt.Tx, room string, m *store.Message, ref store.FileRef) error {
	f, err := getFile(tx, ref.ID)
	switch {
	case errors.Is(err, store.ErrNotFound) && fr.d.Replica:
		// A cluster registers an imported file (file.add) before the
		// import that attaches it; asking the object store here would make
		// apply depend on the network, and an error would stop the
		// applier. Every node skips the same unregistered id alike: the
		// message names a file that serves 404.
		return nil
	case errors.Is(err, store.ErrNotFound):
		size, err := fr.d.BlobStore.Stat(ref.SHA256)
		if err != nil {
			return fmt.Errorf("file %s: %w", ref.ID, err)
		}
		if size != ref.Size {
			return fmt.Errorf("file %s: object %s has %d bytes, not %d", ref.ID, ref.SHA256, size, ref.Size)
		}
		f = store.File{ID: ref.ID, Room: room, Name: ref.Name, Size: ref.Size, Type: ref.Type, SHA256: ref.SHA256,
			Uploader: m.Author, Time: m.Time, Message: m.ID}
		if err := charge(tx, f, 1); err != nil {
			return err
		}
		if err := reference(tx, f.SHA256); err != nil {
			return err
		}
		return putFile(tx, f)
	case err != nil:
		return err
	case !f.Pending():
		if f.Message == m.ID {
			return nil
		}
		return fmt.Errorf("file %s is carried by message %s already", f.ID, f.Message)
	}
	if err := tx.Bucket(bucketFilePending).Delete(pendingKey(f)); err != nil {
		return err
	}
	f.Message = m.ID
	return putFile(tx, f)
}

// fillFiles checks the files a message names against their records and
// fills in their descriptors, in the message's transaction.
func fillFiles(tx *bbolt.Tx, e *store.Event) error {
	for i, ref := range e.Files {
		f, err := getFile(tx, ref.ID)
		if errors.Is(err, store.ErrNotFound) {
			return store.Invalid("files", fmt.Sprintf("%s is not an upload of yours in this room waiting for a message", ref.ID))
		}
		if err != nil {
			return err
		}
		if err := store.CheckAttach(f, *e); err != nil {
			return err
		}
		e.Files[i] = f.Ref()
	}
	return nil
}

// initFiles creates the file buckets and the eraser's state.
func (d *DB) initFiles() error {
	d.files.wake, d.files.done = make(chan struct{}, 1), make(chan struct{})
	return d.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range fileBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
}
