package media

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// Processor turns the body of an upload into the bytes Parley stores: it
// sniffs the type, strips JPEG and PNG metadata (unless KeepMetadata),
// enforces the size limit, and hashes what it writes. Set its fields
// before use; it is safe for concurrent use.
type Processor struct {
	// MaxBytes is the most an upload may hold, counted as it arrives
	// (before stripping). It must be positive.
	MaxBytes int64
	// KeepMetadata stores images as they came, metadata included
	// (`parley serve -keep-metadata`).
	KeepMetadata bool
	// NoSum leaves Upload.Sum zero, for a dst that hashes what it stores
	// itself (a content-addressed store): the bytes are hashed once.
	NoSum bool
}

// Upload is what Process learned about a file it wrote.
type Upload struct {
	Type     string // sniffed from the content
	Size     int64  // bytes written to dst
	Sum      Sum    // SHA-256 of the bytes written to dst
	Stripped Stripped
}

// Process reads an upload from src and writes the bytes to store to dst.
// Errors: ErrTooLarge as soon as src holds more than MaxBytes;
// ErrMalformed for a JPEG or PNG that cannot be stripped; dst's and src's
// own errors. On error dst holds a partial file that must be discarded.
func (p *Processor) Process(dst io.Writer, src io.Reader) (Upload, error) {
	if p.MaxBytes <= 0 {
		return Upload{}, fmt.Errorf("media: Processor.MaxBytes must be positive")
	}
	src = &capReader{r: src, left: p.MaxBytes}
	head := make([]byte, SniffLen)
	n, err := io.ReadFull(src, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return Upload{}, err
	}
	head = head[:n]
	up := Upload{Type: Sniff(head)}
	var (
		w  io.Writer
		d  *Digest
		cw *countWriter
	)
	if p.NoSum {
		cw = &countWriter{w: dst}
		w = cw
	} else {
		d = NewDigest()
		w = io.MultiWriter(dst, d)
	}
	body := io.MultiReader(bytes.NewReader(head), src)
	switch {
	case p.KeepMetadata || (up.Type != TypeJPEG && up.Type != TypePNG):
		// 256 KiB at a time, an eighth of io.Copy's write calls; the
		// struct hides MultiReader's WriteTo, which copies 32 KiB at a time.
		buf := copyBufs.Get().(*[]byte)
		_, err = io.CopyBuffer(w, struct{ io.Reader }{body}, *buf)
		copyBufs.Put(buf)
	case up.Type == TypeJPEG:
		up.Stripped, err = StripJPEG(w, body)
	default:
		up.Stripped, err = StripPNG(w, body)
	}
	if err != nil {
		return Upload{}, err
	}
	if cw != nil {
		up.Size = cw.n
	} else {
		up.Size, up.Sum = d.Size(), d.Sum()
	}
	return up, nil
}

// copyBufs are the buffers that copy files stored as they came.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// capReader reads r and fails with ErrTooLarge once it has given more than
// left bytes.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1] // one byte more tells "exactly the limit" from "over"
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return 0, ErrTooLarge
	}
	return n, err
}
