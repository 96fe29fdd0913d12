package jetstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/parleychat/parley/store"
)

// Import implements store.Log. The file is checked whole against this
// node's replica, brought up to the stream's end first; then each event is
// published as a message of its own (an erased event never takes its
// neighbours' text with it), deduplicated by its id, and applied by every
// node with the same checks. Imported events are history: not handed to
// subscribers.
func (l *Log) Import(ctx context.Context, room string, src io.ReadSeeker) (store.ImportReport, error) {
	if err := store.ValidateRoom(room); err != nil {
		return store.ImportReport{}, err
	}
	l.barrier(ctx)
	rep, err := l.DB.CheckImport(ctx, room, src)
	if err != nil {
		return rep, err
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return rep, err
	}
	var seqs []uint64
	dups := 0 // acked as duplicates: imported by an earlier run
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 0, 64<<10), store.ImportLineLimit(l.DB.MaxTextBytes))
	for sc.Scan() {
		e, err := store.ParseImportLine(sc.Bytes(), l.DB.MaxTextBytes)
		if err != nil {
			return rep, err // checked above: the file changed under us
		}
		if err := l.registerImported(ctx, room, e); err != nil {
			return rep, fmt.Errorf("import stopped after %d events (importing the same file again completes it): %w", len(seqs)+dups, err)
		}
		js, err := e.MarshalJSON()
		if err != nil {
			return rep, err
		}
		pctx, cancel := context.WithTimeout(ctx, l.WriteTimeout)
		ack, err := l.publish(pctx, l.roomSubject(room, "import"), &wireMsg{Kind: "import", Import: js}, "imp-"+room+"-"+e.ID.String())
		cancel()
		if err != nil {
			return rep, fmt.Errorf("import stopped after %d events (importing the same file again completes it): %w", len(seqs)+dups, err)
		}
		if ack.Duplicate {
			dups++
			continue
		}
		seqs = append(seqs, ack.Sequence)
	}
	if err := sc.Err(); err != nil {
		return rep, err
	}
	wctx, cancel := context.WithTimeout(ctx, l.WriteTimeout)
	defer cancel()
	var errs []error
	for _, seq := range seqs {
		o, err := l.waitOutcome(wctx, seq)
		if err == nil {
			err = o.Err
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Imported += o.Imported.Imported
		rep.Skipped += o.Imported.Skipped
	}
	rep.Skipped += dups
	return rep, errors.Join(errs...)
}

// registerImported registers the files an imported message carries, whose
// bytes the import put in this node's cache, before the message is
// published: apply attaches registered files only (it never asks the
// object store). A file registered already (the same file imported again,
// which CheckImport found to be the same content) is left as it is.
func (l *Log) registerImported(ctx context.Context, room string, e store.Event) error {
	for _, ref := range e.Files {
		if _, err := l.DB.File(ctx, ref.ID); err == nil {
			continue
		}
		_, err := l.AddFile(ctx, store.File{ID: ref.ID, Room: room, Name: ref.Name, Size: ref.Size,
			Type: ref.Type, SHA256: ref.SHA256, Uploader: e.Author}, store.Quota{})
		if err != nil {
			return fmt.Errorf("file %s: %w", ref.ID, err)
		}
	}
	return nil
}
