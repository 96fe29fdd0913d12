package jetstream

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// errNoObjects is objects' answer, without create, for a cluster that has
// stored no file yet.
var errNoObjects = errors.New("the cluster has stored no file yet")

// objects returns the object store of files and its stream. The store is
// made by the first upload (create): a cluster that never stores a file
// never has one, and a node opens without waiting for it. Without create,
// a missing store is errNoObjects.
func (l *Log) objects(ctx context.Context, create bool) (jetstream.ObjectStore, jetstream.Stream, error) {
	l.objMu.Lock()
	defer l.objMu.Unlock()
	if l.objs != nil {
		return l.objs, l.objStream, nil
	}
	objs, err := l.js.ObjectStore(ctx, l.FileBucket)
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound) && create:
		objs, err = l.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: l.FileBucket, Replicas: l.Replicas, Storage: jetstream.FileStorage,
		})
	case errors.Is(err, jetstream.ErrBucketNotFound):
		return nil, nil, errNoObjects
	}
	if err != nil {
		return nil, nil, err
	}
	st, err := l.js.Stream(ctx, "OBJ_"+l.FileBucket)
	if err != nil {
		return nil, nil, err
	}
	l.objs, l.objStream = objs, st
	return objs, st, nil
}
