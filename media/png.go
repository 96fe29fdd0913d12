package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// pngSignature starts every PNG file.
const pngSignature = "\x89PNG\r\n\x1a\n"

// maxEXIfChunk bounds the eXIf chunk read for its orientation; a larger one
// is dropped unread.
const maxEXIfChunk = 1 << 20

// pngKeep lists the chunks a stripped PNG keeps: the critical ones and
// those that change how the pixels are shown (transparency, colour space,
// HDR, pixel aspect, background, animation). Text (tEXt, zTXt, iTXt, which
// carry comments and XMP), eXIf, tIME and every chunk not listed are left
// out.
var pngKeep = map[string]bool{
	"IHDR": true, "PLTE": true, "IDAT": true, "IEND": true,
	"tRNS": true, "gAMA": true, "cHRM": true, "sRGB": true, "iCCP": true,
	"sBIT": true, "cICP": true, "mDCV": true, "mDCv": true, "cLLI": true,
	"cLLi": true, "pHYs": true, "bKGD": true,
	"acTL": true, "fcTL": true, "fdAT": true, // APNG
}

// StripPNG copies the PNG in src to dst without its metadata, losslessly:
// chunks are dropped or copied whole (their checksums verified), so the
// stripped file decodes to exactly the same pixels. Kept are the chunks
// pngKeep lists and, as in StripJPEG, the EXIF orientation alone in a
// minimal eXIf chunk; dropped are text chunks, eXIf, tIME, private chunks
// and anything after IEND. A file that is not a complete PNG (IHDR not
// first, no IDAT, a bad length or checksum, truncated) is ErrMalformed;
// dst may then have been written to.
func StripPNG(dst io.Writer, src io.Reader) (Stripped, error) {
	s := &pngStrip{r: bufio.NewReaderSize(src, 64<<10), w: bufio.NewWriterSize(dst, 64<<10)}
	err := s.run()
	if err == nil {
		err = s.w.Flush()
	}
	return s.res, err
}

// pngStrip is one run of StripPNG.
type pngStrip struct {
	r     *bufio.Reader
	w     *bufio.Writer
	res   Stripped
	probe bool // only reading the orientation: stop at the first IDAT
}

func (s *pngStrip) run() error {
	var sig [8]byte
	if _, err := io.ReadFull(s.r, sig[:]); err != nil || string(sig[:]) != pngSignature {
		return fmt.Errorf("%w: png: bad signature", ErrMalformed)
	}
	s.w.Write(sig[:])
	for i, idat := 0, false; ; i++ {
		var head [8]byte
		if _, err := io.ReadFull(s.r, head[:]); err != nil {
			return pngError("", err)
		}
		n, typ := binary.BigEndian.Uint32(head[:4]), string(head[4:])
		switch {
		case n > 1<<31-1 || !chunkType(typ):
			return fmt.Errorf("%w: png: bad chunk header %q", ErrMalformed, head[:])
		case (i == 0) != (typ == "IHDR"):
			return fmt.Errorf("%w: png: IHDR is not the first chunk", ErrMalformed)
		case typ == "IDAT" && s.probe:
			return nil
		case typ == "IEND" && !idat:
			return fmt.Errorf("%w: png: no image data", ErrMalformed)
		}
		var err error
		switch {
		case pngKeep[typ]:
			err = s.copyChunk(head, n)
		case typ == "eXIf" && n <= maxEXIfChunk:
			err = s.exif(n)
		default:
			s.res.Removed = append(s.res.Removed, typ)
			_, err = s.r.Discard(int(n) + 4)
		}
		if err != nil {
			return pngError(typ, err)
		}
		idat = idat || typ == "IDAT"
		if typ == "IEND" {
			if _, err := s.r.Peek(1); err == nil {
				s.res.Removed = append(s.res.Removed, "data after the end")
			}
			return nil
		}
	}
}

// pngError returns ErrMalformed for a file that ends too soon or a bad
// checksum, and passes on the reader's own errors (such as ErrTooLarge).
func pngError(chunk string, err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: png: truncated %s", ErrMalformed, chunk)
	case errors.Is(err, errChecksum):
		return fmt.Errorf("%w: png: bad checksum of %s", ErrMalformed, chunk)
	}
	return err
}

// errChecksum is a chunk's CRC that does not match its contents.
var errChecksum = errors.New("bad checksum")

// chunkType reports whether t is a valid chunk type: four ASCII letters.
func chunkType(t string) bool {
	for i := 0; i < len(t); i++ {
		if c := t[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return len(t) == 4
}

// copyChunk copies a chunk of length n whose header was read, checking its
// CRC (which covers the type and the data).
func (s *pngStrip) copyChunk(head [8]byte, n uint32) error {
	s.w.Write(head[:])
	crc := crc32.NewIEEE()
	crc.Write(head[4:])
	if _, err := io.CopyN(io.MultiWriter(s.w, crc), s.r, int64(n)); err != nil {
		return err
	}
	var sum [4]byte
	if _, err := io.ReadFull(s.r, sum[:]); err != nil {
		return err
	}
	if binary.BigEndian.Uint32(sum[:]) != crc.Sum32() {
		return errChecksum
	}
	_, err := s.w.Write(sum[:])
	return err
}

// exif reads an eXIf chunk of length n and writes the orientation alone,
// if it says one other than upright.
func (s *pngStrip) exif(n uint32) error {
	p := make([]byte, n+4) // the data and its CRC, not checked: dropped
	if _, err := io.ReadFull(s.r, p); err != nil {
		return err
	}
	s.res.Removed = append(s.res.Removed, "eXIf")
	o := exifOrientation(p[:n])
	if o <= 1 || s.res.Orientation != 0 {
		return nil
	}
	s.res.Orientation = o
	data := orientationTIFF(o)
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	chunk = append(append(chunk, "eXIf"...), data...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	_, err := s.w.Write(chunk)
	return err
}

// pngOrientation returns the EXIF orientation of a PNG, reading only the
// chunks before its image data.
func pngOrientation(src io.Reader) Orientation {
	s := &pngStrip{r: bufio.NewReader(src), w: bufio.NewWriter(io.Discard), probe: true}
	if s.run() != nil {
		return 0
	}
	return s.res.Orientation
}
