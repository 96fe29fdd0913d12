package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The object eraser removes from the object store the objects the replica
// queued (bolt's objerase bucket: a content's owner when its last
// reference went, an upload's object that lost its claim), and, every
// OrphanAge/2, the objects nothing registered (an upload whose node died
// between the put and the registration). Erasing is secure: each chunk is
// overwritten on every server (SecureDeleteMsg) before the object is
// deleted, since Delete alone leaves the bytes in the stream's blocks
// (docs/cluster.md, E4).

// objEraseEvery is how often the object eraser looks at its queue when
// nothing woke it.
const objEraseEvery = 5 * time.Second

// objEraseLoop works through the replica's queue of objects to erase.
func (l *Log) objEraseLoop() {
	defer l.wg.Done()
	t := time.NewTicker(objEraseEvery)
	defer t.Stop()
	lastOrphans := time.Now()
	for {
		if err := l.eraseQueuedObjects(); err != nil && !l.closed() {
			l.Logger.Warn("erase file objects from the cluster; will retry", "err", err)
		}
		if age := l.DB.OrphanAge; age > 0 && time.Since(lastOrphans) >= age/2 {
			lastOrphans = time.Now()
			if n, err := l.collectOrphanObjects(age); err != nil && !l.closed() {
				l.Logger.Warn("collect unregistered file objects from the cluster", "err", err)
			} else if n > 0 {
				l.Logger.Info("erased unregistered file objects from the cluster", "objects", n)
			}
		}
		select {
		case <-l.stop:
			return
		case <-l.objWake:
		case <-t.C:
		}
	}
}

// wakeObjEraser tells the object eraser its queue may have grown.
func (l *Log) wakeObjEraser() {
	select {
	case l.objWake <- struct{}{}:
	default:
	}
}

// eraseQueuedObjects erases what the replica queued. One failure does not
// hold up the rest.
func (l *Log) eraseQueuedObjects() error {
	names, err := l.DB.ObjectsToErase(100)
	if err != nil || len(names) == 0 {
		return err
	}
	var errs []error
	for _, name := range names {
		ctx, cancel := context.WithTimeout(l.stopCtx, l.WriteTimeout)
		err := l.eraseObject(ctx, name)
		cancel()
		if err == nil {
			err = l.DB.ObjectErased(name)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// eraseObject overwrites every chunk of object name on every server, then
// deletes the object. An object that is not there is done.
func (l *Log) eraseObject(ctx context.Context, name string) error {
	objs, objStream, err := l.objects(ctx, false)
	if errors.Is(err, errNoObjects) {
		return nil
	}
	if err != nil {
		return err
	}
	info, err := objs.GetInfo(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// The object store's chunk subject ($O.<bucket>.C.<nuid>, ADR-20).
	subject := "$O." + l.FileBucket + ".C." + info.NUID
	next, erased := uint64(1), uint32(0)
	for erased < info.Chunks {
		m, err := objStream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break // erased by another node already, or never stored whole
		}
		if err != nil {
			return err
		}
		if err := objStream.SecureDeleteMsg(ctx, m.Sequence); err != nil && !deletedAlready(err) {
			return err
		}
		erased++
		next = m.Sequence + 1
	}
	if err := objs.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return err
	}
	return nil
}

// collectOrphanObjects erases objects older than age that the replica,
// brought up to the stream's end, neither owns nor queued: no registration
// claimed them, and none can any more (a registration is published within
// WriteTimeout of its put).
func (l *Log) collectOrphanObjects(age time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(l.stopCtx, 5*time.Minute)
	defer cancel()
	// Every registration of an object older than age was published within
	// WriteTimeout of its put; the replica has applied it once it has
	// applied the stream to age/2 ago (ticks keep D current).
	if _, chain, err := l.DB.Applied(); err != nil || chain.Before(time.Now().Add(-age/2)) {
		return 0, fmt.Errorf("the replica has not applied the stream to %s ago (%v)", age/2, err)
	}
	objs, _, err := l.objects(ctx, false)
	if errors.Is(err, errNoObjects) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	infos, err := objs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	cutoff := time.Now().Add(-age)
	n := 0
	for _, info := range infos {
		if info.Deleted || !info.ModTime.Before(cutoff) {
			continue
		}
		live, err := l.DB.ObjectLive(info.Name)
		if err != nil {
			return n, err
		}
		if live {
			continue
		}
		if err := l.eraseObject(ctx, info.Name); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// deletedAlready reports whether a deletion failed only because another node
// deleted the message first (the server's "sequence not found" or "no
// message found", which nats.go passes on as text).
func deletedAlready(err error) bool {
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return true
	}
	msg := err.Error()
	return errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) &&
		(strings.Contains(msg, "err_code=10043") || strings.Contains(msg, "err_code=10057") || strings.Contains(msg, "err_code=10037"))
}
