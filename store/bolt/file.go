package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/parleychat/parley/store"
)

// bbolt's on-disk meta page, as far as checkHeader reads it: a 16-byte page
// header, then magic, version and page size, and at offset 16+40 the high
// water mark (pgid) of pages in use.
const (
	boltMagic     = 0xED0CDAED
	metaPgidAt    = 16 + 40
	metaTxidAt    = 16 + 48
	metaMinLength = 16 + 64
)

// checkHeader refuses a file whose pages in use extend past its end, which
// bbolt would only discover by crashing on a read beyond the mapping.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err // a new, empty file
	}
	head := make([]byte, metaMinLength)
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("%w: %d bytes, too short for a database", store.ErrCorrupt, st.Size())
	}
	if binary.LittleEndian.Uint32(head[16:]) != boltMagic {
		return fmt.Errorf("%w: not a bbolt database (bad magic)", store.ErrCorrupt)
	}
	pageSize := int64(binary.LittleEndian.Uint32(head[24:]))
	if pageSize < 512 || pageSize > 1<<20 {
		return fmt.Errorf("%w: page size %d", store.ErrCorrupt, pageSize)
	}
	// Two meta pages; the one with the higher transaction id is current.
	var best struct{ txid, pgid uint64 }
	for i := int64(0); i < 2; i++ {
		m := make([]byte, metaMinLength)
		if _, err := f.ReadAt(m, i*pageSize); err != nil {
			return fmt.Errorf("%w: cannot read meta page %d: %v", store.ErrCorrupt, i, err)
		}
		if binary.LittleEndian.Uint32(m[16:]) != boltMagic {
			continue
		}
		if txid := binary.LittleEndian.Uint64(m[metaTxidAt:]); txid >= best.txid {
			best.txid, best.pgid = txid, binary.LittleEndian.Uint64(m[metaPgidAt:])
		}
	}
	if need := int64(best.pgid) * pageSize; st.Size() < need {
		return fmt.Errorf("%w: truncated: %d bytes, its pages need %d", store.ErrCorrupt, st.Size(), need)
	}
	return nil
}

// initialMmapSize is the address space a database maps at Open.
const initialMmapSize = 1 << 30

// openBolt opens path, turning bbolt's panics and memory faults on damaged
// pages into ErrCorrupt instead of a crash.
func openBolt(path string, readOnly bool, timeout time.Duration) (db *bbolt.DB, err error) {
	if err := checkHeader(path); err != nil {
		return nil, err
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", store.ErrCorrupt, r)
		}
	}()
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:  timeout,
		ReadOnly: readOnly,
		// A commit that outgrows the mapping remaps the file, which waits
		// for every open read transaction: a long backup would hold up
		// every append. Mapping 1 GiB of address space from the start
		// (memory is only used as pages are touched) makes that rare.
		InitialMmapSize: initialMmapSize,
		// The freelist is rebuilt at open instead of written at every commit:
		// fewer pages per fsync, same durability.
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, errors.New("locked by another process (is a parley server using it?)")
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("%w: %v", store.ErrCorrupt, err)
	}
	return db, err
}
