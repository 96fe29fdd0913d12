package bolt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/blobdir"
)

// verifyFiles checks the file records against the messages and the objects
// in dir, without changing either.
func verifyFiles(rep *Report, tx *bbolt.Tx, dir string, quick bool) error {
	files := tx.Bucket(bucketFiles)
	if files == nil {
		return nil // written before files: nothing to check
	}
	var blobs *blobdir.Dir
	replica := false
	if seq, _ := readApplied(tx); seq > 0 {
		// A cluster replica: the bytes are in the cluster's object store
		// and dir is this node's cache of them, so neither a missing copy
		// nor an extra one is damage; each content must have its owner.
		replica = true
		rep.Notes = append(rep.Notes, "a cluster replica: file objects are in the cluster's object store, not checked here")
	} else if _, err := os.Stat(dir); err == nil {
		// Open would empty tmp/: look, do not touch.
		blobs = blobdir.View(dir)
	}
	refs := map[string]int64{} // sum → references the records make
	files.ForEach(func(k, v []byte) error {
		rep.Files++
		f, err := decodeFile(v)
		if err != nil || f.ID != string(k) {
			rep.problem("file %s: record does not decode (%v)", k, err)
			return nil
		}
		refs[f.SHA256]++
		if f.Thumb.SHA256 != "" {
			refs[f.Thumb.SHA256]++
		}
		if !f.Pending() {
			verifyCarried(rep, tx, f)
		}
		if replica {
			return nil
		}
		verifyObject(rep, blobs, "file "+f.ID, f.SHA256, f.Size, quick)
		if f.Thumb.SHA256 != "" {
			verifyObject(rep, blobs, "thumbnail of file "+f.ID, f.Thumb.SHA256, -1, quick)
		}
		return nil
	})
	objs := tx.Bucket(bucketFileObjs)
	for sum, n := range refs {
		if got := readCount(objs, []byte(sum)); got != n {
			rep.problem("object %s: counted %d references, the records make %d", sum, got, n)
		}
	}
	objs.ForEach(func(k, _ []byte) error {
		if refs[string(k)] == 0 {
			rep.problem("object %s: counted, but no record references it", k)
		}
		return nil
	})
	verifyMessageFiles(rep, tx)
	if owners := tx.Bucket(bucketFileOwner); replica && owners != nil {
		for sum := range refs {
			if owners.Get([]byte(sum)) == nil {
				rep.problem("object %s: referenced, but no object store object owns it", sum)
			}
		}
	}
	if blobs == nil {
		return nil
	}
	erase := tx.Bucket(bucketFileErase)
	return blobs.Walk(func(sum string, _ int64, _ time.Time) error {
		if refs[sum] == 0 && erase.Get([]byte(sum)) == nil && len(rep.Notes) < 1000 {
			rep.Notes = append(rep.Notes, "object "+sum+" is referenced by no record (the server erases it)")
		}
		return nil
	})
}

// verifyCarried checks that the message a file record names carries it.
func verifyCarried(rep *Report, tx *bbolt.Tx, f store.File) {
	rb := tx.Bucket(bucketRooms).Bucket([]byte(f.Room))
	if rb == nil {
		rep.problem("file %s: carried by message %s of room %s, which has no events", f.ID, f.Message, f.Room)
		return
	}
	m, err := readMessage(rb.Bucket(bucketLog), rb.Bucket(bucketMsgs), f.Room, f.Message)
	if err != nil {
		rep.problem("file %s: carried by message %s: %v", f.ID, f.Message, err)
		return
	}
	for _, r := range m.Files {
		if r.ID == f.ID {
			if r.SHA256 != f.SHA256 || r.Size != f.Size {
				rep.problem("file %s: message %s describes other content", f.ID, f.Message)
			}
			return
		}
	}
	rep.problem("file %s: message %s does not carry it", f.ID, f.Message)
}

// verifyMessageFiles checks that every file a message carries has its
// record.
func verifyMessageFiles(rep *Report, tx *bbolt.Tx) {
	files := tx.Bucket(bucketFiles)
	rooms := tx.Bucket(bucketRooms)
	rooms.ForEachBucket(func(name []byte) error {
		rb := rooms.Bucket(name)
		logB, msgs := rb.Bucket(bucketLog), rb.Bucket(bucketMsgs)
		if logB == nil || msgs == nil {
			return nil
		}
		return msgs.ForEach(func(k, v []byte) error {
			if len(v) > 0 && !bytes.Contains(v, []byte(`"files":[`)) {
				return nil
			}
			if len(v) == 0 && !bytes.Contains(logB.Get(k), []byte(`"files":[`)) {
				return nil
			}
			var id ulid.ULID
			copy(id[:], k)
			m, err := readMessage(logB, msgs, string(name), id)
			if err != nil {
				return nil // verifyRoom reports it
			}
			for _, r := range m.Files {
				if files.Get([]byte(r.ID)) == nil {
					rep.problem("room %s, message %s: carries file %s, which has no record", name, id, r.ID)
				}
			}
			return nil
		})
	})
}

// verifyObject checks that object sum is in blobs, size bytes long (-1:
// any) and, unless quick, hashes to its name.
func verifyObject(rep *Report, blobs *blobdir.Dir, what, sum string, size int64, quick bool) {
	if blobs == nil {
		rep.problem("%s: object %s missing (no files directory)", what, sum)
		return
	}
	b, err := blobs.Open(sum)
	if errors.Is(err, store.ErrNotFound) {
		rep.problem("%s: object %s missing", what, sum)
		return
	}
	if err != nil {
		rep.problem("%s: object %s: %v", what, sum, err)
		return
	}
	defer b.Close()
	if size >= 0 && b.Size() != size {
		rep.problem("%s: object %s has %d bytes, the record says %d", what, sum, b.Size(), size)
		return
	}
	if quick {
		return
	}
	h := sha256.New()
	if _, err := io.Copy(h, b); err != nil {
		rep.problem("%s: object %s: %v", what, sum, err)
		return
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		rep.problem("%s: object %s holds bytes hashing to %s", what, sum, got)
	}
}
