package jetstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parleychat/parley/store"
	"github.com/parleychat/parley/store/blobdir"
)

// cache is a cluster node's store.Blobs: a directory of objects (the
// replica's Path+".files", as on a single node) in front of the cluster's
// object store. Uploads are written here first; Open fetches what the node
// does not have from the object that owns the content (docs/cluster.md,
// "Files"), checking its SHA-256. Erase and Walk are the node's copies
// only: the cluster's objects are erased through the stream (objerase.go).
type cache struct {
	l   *Log
	dir *blobdir.Dir
}

// Create implements store.Blobs: a new object of this node's cache.
func (c *cache) Create() (store.BlobWriter, error) { return c.dir.Create() }

// Open implements store.Blobs.
func (c *cache) Open(sum string) (store.Blob, error) {
	b, err := c.dir.Open(sum)
	if !errors.Is(err, store.ErrNotFound) {
		return b, err
	}
	if err := c.fetch(sum); err != nil {
		return nil, err
	}
	return c.dir.Open(sum)
}

// Stat implements store.Blobs.
func (c *cache) Stat(sum string) (int64, error) {
	size, err := c.dir.Stat(sum)
	if !errors.Is(err, store.ErrNotFound) {
		return size, err
	}
	owner, err := c.l.DB.ObjectOwner(sum)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.l.WriteTimeout)
	defer cancel()
	objs, _, err := c.l.objects(ctx, false)
	if err != nil {
		return 0, err
	}
	info, err := objs.GetInfo(ctx, owner)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return 0, store.NotFound("object " + sum)
	}
	if err != nil {
		return 0, err
	}
	return int64(info.Size), nil
}

// Erase implements store.Blobs: this node's copy.
func (c *cache) Erase(sum string) error { return c.dir.Erase(sum) }

// Walk implements store.Blobs: this node's copies.
func (c *cache) Walk(fn func(sum string, size int64, mod time.Time) error) error {
	return c.dir.Walk(fn)
}

// fetchWait bounds how long a fetch waits for an object the replica says
// exists: a server that answers a direct get may lag the one that stored
// it by a moment.
const fetchWait = 10 * time.Second

// fetch copies the object owning content sum into the cache.
func (c *cache) fetch(sum string) error {
	owner, err := c.l.DB.ObjectOwner(sum)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.l.WriteTimeout)
	defer cancel()
	deadline := time.Now().Add(fetchWait)
	for {
		err = c.copyObject(ctx, owner, sum)
		if !errors.Is(err, jetstream.ErrObjectNotFound) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return store.NotFound("object " + sum)
	}
	if err != nil {
		return fmt.Errorf("fetch object %s: %w", owner, err)
	}
	// Released while it was copied: the eraser may have passed already.
	if _, err := c.l.DB.ObjectOwner(sum); errors.Is(err, store.ErrNotFound) {
		return errors.Join(err, c.dir.Erase(sum))
	}
	return nil
}

// copyObject writes object name, which must hold content sum, into the
// cache.
func (c *cache) copyObject(ctx context.Context, name, sum string) error {
	objs, _, err := c.l.objects(ctx, false)
	if errors.Is(err, errNoObjects) {
		return jetstream.ErrObjectNotFound
	}
	if err != nil {
		return err
	}
	r, err := objs.Get(ctx, name)
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := c.dir.Create()
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := io.Copy(w, r); err != nil {
		return err
	}
	got, _, err := w.Commit()
	if err != nil {
		return err
	}
	if got != sum {
		// The copy stays for the orphan collector: it may be another
		// content's cached copy.
		return fmt.Errorf("object %s holds %s, not %s", name, got, sum)
	}
	return nil
}
