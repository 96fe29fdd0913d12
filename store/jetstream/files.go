package jetstream

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/bolt"
)

// Files in cluster mode (docs/cluster.md, "Files"): the bytes are put in
// the object store first, then the file is registered through the stream,
// and every node applies the registration (bolt's RegisterFile) alike. The
// records and their reads are the replica's.

// Blobs implements store.Files: this node's cache of the object store.
func (l *Log) Blobs() store.Blobs { return l.cache }

// AddFile implements store.Files. The object f.SHA256 must be in this
// node's cache (an upload commits it there); unless the content is
// registered already, it is put in the object store under a name of its
// own before the registration is published.
func (l *Log) AddFile(ctx context.Context, f store.File, q store.Quota) (store.File, error) {
	if err := f.CheckNew(); err != nil {
		return store.File{}, err
	}
	f.Time = l.DB.Now().UTC()
	name, err := l.putObject(ctx, f.SHA256, f.ID, f.Size)
	if err != nil {
		return store.File{}, err
	}
	res, err := l.fileOp(ctx, &wireMsg{Op: "file.add", File: &f, Quota: &q, Obj: name})
	if err != nil {
		return store.File{}, err
	}
	got, _ := res.(store.File)
	return got, nil
}

// SetThumb implements store.Files: as AddFile, for the thumbnail's object.
func (l *Log) SetThumb(ctx context.Context, id string, t store.Thumb) error {
	m := &wireMsg{Op: "file.thumb", ID: id, Thumb: &t}
	if !t.None {
		if err := store.ValidateSHA256(t.SHA256); err != nil {
			return err
		}
		size, err := l.cache.dir.Stat(t.SHA256)
		if err != nil {
			return err
		}
		if m.Obj, err = l.putObject(ctx, t.SHA256, id, size); err != nil {
			return err
		}
	}
	_, err := l.fileOp(ctx, m)
	return err
}

// CollectFiles implements store.Files: every node releases, at the same
// place in the stream, the pending uploads older than before.
func (l *Log) CollectFiles(ctx context.Context, before time.Time) (int, error) {
	res, err := l.op(ctx, &wireMsg{Op: "file.collect", Now: before})
	n, _ := res.(int)
	return n, err
}

// fileOp publishes a registration whose object m.Obj this node put
// (fresh) or found. A fresh object the registration did not claim is left
// to the orphan collector, as a single node leaves a refused upload's
// object to its pruner: erasing it here could race another registration
// of the same file id (an archive imported twice at once) that claims it.
func (l *Log) fileOp(ctx context.Context, m *wireMsg) (any, error) {
	return l.op(ctx, m)
}

// putObject makes sure the object store holds content sum for an upload
// of file id: the owner the replica knows, or else this node's cached copy
// put under a name of its own.
func (l *Log) putObject(ctx context.Context, sum, fileID string, size int64) (string, error) {
	if owner, err := l.DB.ObjectOwner(sum); err == nil {
		return owner, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	b, err := l.cache.dir.Open(sum)
	if err != nil {
		return "", err // erased meanwhile: ErrNotFound, upload again
	}
	defer b.Close()
	if b.Size() != size {
		return "", store.Invalid("size", "does not match the object")
	}
	name := bolt.ObjectName(sum, fileID)
	ctx, cancel := context.WithTimeout(ctx, l.WriteTimeout)
	defer cancel()
	objs, _, err := l.objects(ctx, true)
	if err == nil {
		_, err = objs.Put(ctx, jetstream.ObjectMeta{Name: name}, b)
	}
	if err != nil {
		if l.closed() {
			return "", store.ErrClosed
		}
		l.Logger.Warn("put file in the object store", "object", name, "err", err)
		return "", store.Unavailable("the cluster did not store the file in time: upload it again")
	}
	return name, nil
}
