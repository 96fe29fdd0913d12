package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// The Fake's store.Files: records in memory, bytes in a MemBlobs. Objects
// are erased as soon as their last reference goes (a real store does it in
// the background, promptly).

// fakeFiles is the Fake's file state, guarded by Fake.mu.
type fakeFiles struct {
	records map[string]store.File
	objs    map[string]int64 // sha256 → references
	usage   map[string]int64 // "u:"+uploader, "r:"+room → bytes
}

func (ff *fakeFiles) init() {
	ff.records, ff.objs, ff.usage = map[string]store.File{}, map[string]int64{}, map[string]int64{}
}

// Blobs implements store.Files.
func (f *Fake) Blobs() store.Blobs { return f.blobs }

// AddFile implements store.Files.
func (f *Fake) AddFile(ctx context.Context, file store.File, q store.Quota) (store.File, error) {
	for _, err := range []error{store.ValidateFileID(file.ID), store.ValidateRoom(file.Room),
		store.ValidateAuthor(file.Uploader), store.ValidateSHA256(file.SHA256)} {
		if err != nil {
			return store.File{}, err
		}
	}
	if file.Size < 0 {
		return store.File{}, store.Invalid("size", "is negative")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return store.File{}, err
	}
	size, err := f.blobs.Stat(file.SHA256)
	if err != nil {
		return store.File{}, err
	}
	if size != file.Size {
		return store.File{}, store.Invalid("size", fmt.Sprintf("is %d, the object has %d bytes", file.Size, size))
	}
	if _, ok := f.files.records[file.ID]; ok {
		return store.File{}, store.Invalid("id", "file id in use")
	}
	if q.User > 0 && f.files.usage["u:"+file.Uploader]+file.Size > q.User {
		return store.File{}, &store.QuotaError{Limit: q.User}
	}
	if q.Room > 0 && f.files.usage["r:"+file.Room]+file.Size > q.Room {
		return store.File{}, &store.QuotaError{Room: true, Limit: q.Room}
	}
	file.Time, file.Message, file.Thumb = f.Now().UTC(), ulid.ULID{}, store.Thumb{}
	f.files.records[file.ID] = file
	f.charge(file, 1)
	f.files.objs[file.SHA256]++
	return file, nil
}

func (f *Fake) charge(file store.File, sign int64) {
	f.files.usage["u:"+file.Uploader] += sign * file.Size
	f.files.usage["r:"+file.Room] += sign * file.Size
}

// File implements store.Files.
func (f *Fake) File(ctx context.Context, id string) (store.File, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if err := f.usable(); err != nil {
		return store.File{}, err
	}
	file, ok := f.files.records[id]
	if !ok {
		return store.File{}, store.NotFound("file " + id)
	}
	return file, nil
}

// SetThumb implements store.Files.
func (f *Fake) SetThumb(ctx context.Context, id string, t store.Thumb) error {
	if t.None {
		t = store.Thumb{None: true}
	} else if err := store.ValidateSHA256(t.SHA256); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return err
	}
	if !t.None {
		if _, err := f.blobs.Stat(t.SHA256); err != nil {
			return err
		}
	}
	file, ok := f.files.records[id]
	if !ok {
		return store.NotFound("file " + id)
	}
	if file.Thumb != (store.Thumb{}) {
		return nil
	}
	file.Thumb = t
	f.files.records[id] = file
	if !t.None {
		f.files.objs[t.SHA256]++
	}
	return nil
}

// FileUsage implements store.Files.
func (f *Fake) FileUsage(ctx context.Context, uploader, room string) (store.Usage, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return store.Usage{User: f.files.usage["u:"+uploader], Room: f.files.usage["r:"+room]}, f.usable()
}

// BackupFiles implements store.Files.
func (f *Fake) BackupFiles(w io.Writer, size func(int64), object func(sum string) error) (int64, error) {
	// Every release (appends, imports, pruning, collection) waits.
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	f.mu.RLock()
	sums := make([]string, 0, len(f.files.objs))
	for sum := range f.files.objs {
		sums = append(sums, sum)
	}
	f.mu.RUnlock()
	n, err := f.Backup(w, size)
	for _, sum := range sums {
		if err != nil {
			break
		}
		err = object(sum)
	}
	return n, err
}

// FileStats implements store.Files.
func (f *Fake) FileStats(ctx context.Context) (store.FileStats, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := store.FileStats{Files: int64(len(f.files.records)), Objects: int64(len(f.files.objs))}
	for _, file := range f.files.records {
		if file.Pending() {
			s.Pending++
		}
	}
	return s, f.usable()
}

// CollectFiles implements store.Files.
func (f *Fake) CollectFiles(ctx context.Context, before time.Time) (int, error) {
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.usable(); err != nil {
		return 0, err
	}
	n := 0
	for id, file := range f.files.records {
		if file.Pending() && file.Time.Before(before) {
			f.release(id)
			n++
		}
	}
	return n, nil
}

// release removes file id and erases the objects it was the last to
// reference. f.mu must be held for writing.
func (f *Fake) release(id string) {
	file, ok := f.files.records[id]
	if !ok {
		return
	}
	delete(f.files.records, id)
	f.charge(file, -1)
	for _, sum := range []string{file.SHA256, file.Thumb.SHA256} {
		if sum == "" {
			continue
		}
		if f.files.objs[sum]--; f.files.objs[sum] <= 0 {
			delete(f.files.objs, sum)
			f.blobs.Erase(sum)
		}
	}
}

// fillFiles checks the files message e names and fills in their
// descriptors. f.mu must be held.
func (f *Fake) fillFiles(e *store.Event) error {
	e.Files = slices.Clone(e.Files)
	for i, ref := range e.Files {
		file, ok := f.files.records[ref.ID]
		if !ok {
			return store.Invalid("files", fmt.Sprintf("%s is not an upload of yours in this room waiting for a message", ref.ID))
		}
		if err := store.CheckAttach(file, *e); err != nil {
			return err
		}
		e.Files[i] = file.Ref()
	}
	return nil
}

// followFiles keeps the file records in step with a change of a message's
// state (as bolt's follower does). f.mu must be held for writing.
func (f *Fake) followFiles(room string, old, new *store.Message) {
	switch {
	case old == nil && new != nil:
		for _, ref := range new.Files {
			file, ok := f.files.records[ref.ID]
			if !ok { // imported
				file = store.File{ID: ref.ID, Room: room, Name: ref.Name, Size: ref.Size, Type: ref.Type,
					SHA256: ref.SHA256, Uploader: new.Author, Time: new.Time}
				f.charge(file, 1)
				f.files.objs[file.SHA256]++
			}
			file.Message = new.ID
			f.files.records[ref.ID] = file
		}
	case old != nil && len(old.Files) > 0 && (new == nil || len(new.Files) == 0):
		for _, ref := range old.Files {
			f.release(ref.ID)
		}
	}
}

// checkImportedFiles checks the files of the new messages of an import.
// f.mu must be held.
func (f *Fake) checkImportedFiles(events []store.Event) error {
	for n, e := range events {
		for _, ref := range e.Files {
			err := store.ValidateSHA256(ref.SHA256)
			if file, ok := f.files.records[ref.ID]; ok && err == nil &&
				(file.SHA256 != ref.SHA256 || file.Room != e.Room || !file.Pending() && file.Message != e.ID) {
				err = fmt.Errorf("file %s exists with other content", ref.ID)
			}
			if err == nil {
				var size int64
				if size, err = f.blobs.Stat(ref.SHA256); errors.Is(err, store.ErrNotFound) {
					err = fmt.Errorf("file %s: its bytes (%s) are not in the import: import the zip export", ref.ID, ref.SHA256)
				} else if err == nil && size != ref.Size {
					err = fmt.Errorf("file %s: %d bytes, not %d", ref.ID, size, ref.Size)
				}
			}
			if err != nil {
				return &store.ImportError{Line: n + 1, Err: err}
			}
		}
	}
	return nil
}

// MemBlobs is a store.Blobs in memory, for the Fake and for tests.
type MemBlobs struct {
	mu   sync.Mutex // guards objs
	objs map[string]memObject
}

type memObject struct {
	data []byte
	mod  time.Time
}

// NewMemBlobs returns an empty MemBlobs.
func NewMemBlobs() *MemBlobs { return &MemBlobs{objs: map[string]memObject{}} }

// Create implements store.Blobs.
func (m *MemBlobs) Create() (store.BlobWriter, error) { return &memWriter{m: m}, nil }

type memWriter struct {
	m    *MemBlobs
	buf  bytes.Buffer
	done bool
}

func (w *memWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }

func (w *memWriter) Commit() (string, int64, error) {
	if w.done {
		return "", 0, errors.New("storetest: commit after commit or abort")
	}
	w.done = true
	s := sha256.Sum256(w.buf.Bytes())
	sum := hex.EncodeToString(s[:])
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	if _, ok := w.m.objs[sum]; !ok {
		w.m.objs[sum] = memObject{data: bytes.Clone(w.buf.Bytes()), mod: time.Now()}
	}
	return sum, int64(w.buf.Len()), nil
}

func (w *memWriter) Abort() error { w.done = true; return nil }

// Open implements store.Blobs.
func (m *MemBlobs) Open(sum string) (store.Blob, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[sum]
	if !ok {
		return nil, store.NotFound("object " + sum)
	}
	return &memBlob{Reader: bytes.NewReader(o.data), size: int64(len(o.data)), mod: o.mod}, nil
}

type memBlob struct {
	*bytes.Reader
	size int64
	mod  time.Time
}

func (b *memBlob) Close() error       { return nil }
func (b *memBlob) Size() int64        { return b.size }
func (b *memBlob) ModTime() time.Time { return b.mod }

// Stat implements store.Blobs.
func (m *MemBlobs) Stat(sum string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[sum]
	if !ok {
		return 0, store.NotFound("object " + sum)
	}
	return int64(len(o.data)), nil
}

// Erase implements store.Blobs.
func (m *MemBlobs) Erase(sum string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, sum)
	return nil
}

// Walk implements store.Blobs.
func (m *MemBlobs) Walk(fn func(sum string, size int64, mod time.Time) error) error {
	m.mu.Lock()
	objs := make(map[string]memObject, len(m.objs))
	for k, v := range m.objs {
		objs[k] = v
	}
	m.mu.Unlock()
	for k, v := range objs {
		if err := fn(k, int64(len(v.data)), v.mod); err != nil {
			return err
		}
	}
	return nil
}
