package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/parleychat/parley/store"
)

// Files on a cluster replica (docs/cluster.md, "Files"). The bytes are
// objects of the cluster's object store; the node's Blobs is a cache of
// them. Which object holds a content is decided at apply, like everything
// else, so every node agrees:
//
//   - An upload puts its bytes under a name of its own, ObjectName(sum,
//     file id), unless the node found the content registered already, and
//     then names the owner it found. Names are never reused.
//   - Registering a file (RegisterFile, RegisterThumb) claims the name it
//     carries for the content: the first claim of an unowned content makes
//     its object the owner; a claim of the current owner references it;
//     a fresh object that lost to an owner registered meanwhile is queued
//     for erasure; a claim of an owner that is gone (its content was
//     released and erased meanwhile) is refused, ErrNotFound: upload
//     again.
//   - When the last reference to a content goes, its owner is queued for
//     erasure (objerase) in the same transaction, on every replica.
//
// So an object is erased only when nothing references it, and never while
// an upload relies on it: a name is claimed once, and a claim of an erased
// name fails alike on every node.

// ObjectName is the object store name of content sum put by the upload of
// file id.
func ObjectName(sum, fileID string) string { return sum + "." + fileID }

// ObjectSum returns the content an object name holds.
func ObjectSum(name string) string {
	sum, _, _ := strings.Cut(name, ".")
	return sum
}

// claimObject applies the claim of object name for content sum by file id
// (see above).
func claimObject(tx *bbolt.Tx, sum, name, fileID string) error {
	b := tx.Bucket(bucketFileOwner)
	owner := string(b.Get([]byte(sum)))
	own := name == ObjectName(sum, fileID)
	switch {
	case owner == name:
		return nil
	case owner == "" && own:
		return b.Put([]byte(sum), []byte(name))
	case owner != "" && own:
		return tx.Bucket(bucketObjErase).Put([]byte(name), []byte{})
	default:
		return store.NotFound("the object " + name + " (its content was deleted meanwhile: upload again)")
	}
}

// disown queues the owner of content sum, which nothing references any
// more, for erasure from the object store. Nothing on a single node.
func disown(tx *bbolt.Tx, sum string) error {
	b := tx.Bucket(bucketFileOwner)
	owner := b.Get([]byte(sum))
	if owner == nil {
		return nil
	}
	if err := tx.Bucket(bucketObjErase).Put(bytes.Clone(owner), []byte{}); err != nil {
		return err
	}
	return b.Delete([]byte(sum))
}

// ObjectOwner returns the object store name that holds content sum, and
// ErrNotFound if nothing references the content.
func (d *DB) ObjectOwner(sum string) (string, error) {
	var name string
	err := d.view(func(tx *bbolt.Tx) error {
		name = string(tx.Bucket(bucketFileOwner).Get([]byte(sum)))
		return nil
	})
	if err == nil && name == "" {
		err = store.NotFound("object " + sum)
	}
	return name, err
}

// ObjectLive reports whether object store object name is an owner, or is
// queued for erasure: either way not an orphan.
func (d *DB) ObjectLive(name string) (bool, error) {
	live := false
	err := d.view(func(tx *bbolt.Tx) error {
		live = string(tx.Bucket(bucketFileOwner).Get([]byte(ObjectSum(name)))) == name ||
			tx.Bucket(bucketObjErase).Get([]byte(name)) != nil
		return nil
	})
	return live, err
}

// ObjectsToErase returns up to max object store objects queued for
// erasure.
func (d *DB) ObjectsToErase(max int) ([]string, error) {
	var names []string
	err := d.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketObjErase).Cursor()
		for k, _ := c.First(); k != nil && len(names) < max; k, _ = c.Next() {
			names = append(names, string(k))
		}
		return nil
	})
	return names, err
}

// ObjectErased dequeues object store object name, erased by this node.
// The queue is the node's own: each node erases (idempotently) what its
// replica queued, so an erasure outlives the node that applied it first.
func (d *DB) ObjectErased(name string) error {
	return d.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketObjErase).Delete([]byte(name))
	})
}

// RegisterFile is a cluster's AddFile, applied from the stream: f as the
// node that took the upload published it (Time set there), its bytes in
// object store object name. It checks what AddFile checks, from the
// replica alone, and claims the object; the replica's position commits
// with it (ctx of an op). Errors are AddFile's; ErrNotFound if the object
// was erased meanwhile.
func (d *DB) RegisterFile(ctx context.Context, f store.File, q store.Quota, name string) (store.File, error) {
	if err := f.CheckNew(); err != nil {
		return store.File{}, err
	}
	f.Time, f.Message, f.Thumb = f.Time.UTC(), ulid.ULID{}, store.Thumb{}
	err := d.updateCtx(ctx, func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketFiles).Get([]byte(f.ID)) != nil {
			return store.Invalid("id", "file id in use")
		}
		u := tx.Bucket(bucketFileUsage)
		if q.User > 0 && readCount(u, []byte("u:"+f.Uploader))+f.Size > q.User {
			return &store.QuotaError{Limit: q.User}
		}
		if q.Room > 0 && readCount(u, []byte("r:"+f.Room))+f.Size > q.Room {
			return &store.QuotaError{Room: true, Limit: q.Room}
		}
		if err := claimObject(tx, f.SHA256, name, f.ID); err != nil {
			return err
		}
		if err := noteRegistration(ctx, tx, f.ID, name); err != nil {
			return err
		}
		if err := putFile(tx, f); err != nil {
			return err
		}
		if err := tx.Bucket(bucketFilePending).Put(pendingKey(f), []byte{}); err != nil {
			return err
		}
		if err := charge(tx, f, 1); err != nil {
			return err
		}
		return reference(tx, f.SHA256)
	})
	if err != nil {
		return store.File{}, err
	}
	return f, nil
}

// RegisterThumb is a cluster's SetThumb, applied from the stream: t's
// bytes are in object store object name, put for file id (the first call
// wins; a later one's fresh object is queued for erasure).
func (d *DB) RegisterThumb(ctx context.Context, id string, t store.Thumb, name string) error {
	if t.None {
		t = store.Thumb{None: true}
	} else if err := store.ValidateSHA256(t.SHA256); err != nil {
		return err
	}
	return d.updateCtx(ctx, func(tx *bbolt.Tx) error {
		f, err := getFile(tx, id)
		if err != nil {
			return err // the publisher erases its fresh object
		}
		if f.Thumb != (store.Thumb{}) {
			// The first thumbnail won. A fresh object of a later one is
			// claimed by nothing, unless it is the same name the first
			// claimed (the same thumbnail made twice).
			owner := string(tx.Bucket(bucketFileOwner).Get([]byte(t.SHA256)))
			if !t.None && name == ObjectName(t.SHA256, id) && owner != name {
				return tx.Bucket(bucketObjErase).Put([]byte(name), []byte{})
			}
			return nil
		}
		if !t.None {
			if err := claimObject(tx, t.SHA256, name, id); err != nil {
				return err
			}
		}
		f.Thumb = t
		if err := putFile(tx, f); err != nil || t.None {
			return err
		}
		return reference(tx, t.SHA256)
	})
}

// FileGap is what the gap record of an erased file registration says: the
// registration without the file's name, and the object it claimed. A node
// rebuilding applies it as the registration (RegisterFile), so what
// follows (the thumbnail, the message that carried it, its release) is
// applied as it was everywhere else.
type FileGap struct {
	File store.File `json:"file"`
	Obj  string     `json:"obj"`
}

// noteRegistration records, with the file's record, the stream position of
// the op registering file id (from ctx) and the object it claimed, for
// eraseRegistration.
func noteRegistration(ctx context.Context, tx *bbolt.Tx, id, name string) error {
	pos, ok := ctx.Value(applyPosKey{}).(applyPos)
	if !ok {
		return nil
	}
	v := make([]byte, 16, 16+len(name))
	binary.BigEndian.PutUint64(v, pos.seq)
	binary.BigEndian.PutUint64(v[8:], uint64(pos.at.UnixMilli()))
	return tx.Bucket(bucketFileAdds).Put([]byte(id), append(v, name...))
}

// eraseRegistration queues, as f is released, the stream message that
// registered it (which holds its name) for erasure, with the gap record
// that stands for it. Nothing for a file registered otherwise.
func eraseRegistration(tx *bbolt.Tx, f store.File) error {
	b := tx.Bucket(bucketFileAdds)
	v := b.Get([]byte(f.ID))
	if len(v) < 16 {
		return nil
	}
	seq, ms := binary.BigEndian.Uint64(v), int64(binary.BigEndian.Uint64(v[8:]))
	g := FileGap{File: f, Obj: string(v[16:])}
	g.File.Name, g.File.Message, g.File.Thumb = "", ulid.ULID{}, store.Thumb{}
	if err := queueFileGap(tx, seq, time.UnixMilli(ms).UTC(), g); err != nil {
		return err
	}
	return b.Delete([]byte(f.ID))
}
