package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// JPEG markers this file names. Every marker outside these and the
// standalone ones (SOI, EOI, RSTn, TEM) is followed by a 2-byte length.
const (
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mAPP0 = 0xE0
	mAPP1 = 0xE1
	mAPP2 = 0xE2
	mAPPE = 0xEE
	mAPPF = 0xEF
	mCOM  = 0xFE
)

// Stripped says what stripping removed and kept.
type Stripped struct {
	// Removed names each metadata segment or chunk left out, in file
	// order ("APP1 Exif", "COM", "tEXt", "data after the end", …).
	Removed []string
	// Orientation is the EXIF orientation the stripped file still carries
	// (see StripJPEG), 0 if none.
	Orientation Orientation
}

// StripJPEG copies the JPEG in src to dst without its metadata, losslessly:
// segments are dropped or kept whole, the image data is copied byte for
// byte, so the stripped file decodes to exactly the same pixels.
//
// Dropped: EXIF (camera, time, GPS, the embedded thumbnail), XMP, IPTC and
// Photoshop data, comments, MPF and FlashPix, every other APPn segment, and
// anything after the end-of-image marker (where phones append "motion
// photo" videos). Kept: the image's tables and scans, JFIF (without its
// thumbnail), ICC colour profiles and the Adobe segment (both change how
// the pixels are shown), and the EXIF orientation, alone in a minimal EXIF
// segment: applying it would mean re-encoding or a lossless DCT rotation,
// while keeping it is lossless and every current browser honours it.
//
// A file that is not a complete JPEG (no image data, a truncated segment
// or scan, a bad marker) is ErrMalformed; dst may then have been written
// to. It reads src through to the end-of-image marker and no further.
func StripJPEG(dst io.Writer, src io.Reader) (Stripped, error) {
	s := &jpegStrip{r: bufio.NewReaderSize(src, 64<<10), w: bufio.NewWriterSize(dst, 64<<10)}
	err := s.run()
	if err == nil {
		err = s.w.Flush()
	}
	return s.res, err
}

// jpegStrip is one run of StripJPEG.
type jpegStrip struct {
	r        *bufio.Reader
	w        *bufio.Writer
	res      Stripped
	probe    bool // only reading the orientation: stop at the first scan
	scanned  bool // a scan (SOS) was copied
	oriented bool // an orientation was written
}

func (s *jpegStrip) run() error {
	var soi [2]byte
	if _, err := io.ReadFull(s.r, soi[:]); err != nil || soi != [2]byte{0xFF, mSOI} {
		return fmt.Errorf("%w: jpeg: no start of image", ErrMalformed)
	}
	s.w.Write(soi[:])
	m, err := s.marker()
	for err == nil {
		switch {
		case m == mEOI:
			if !s.scanned {
				return fmt.Errorf("%w: jpeg: no image data", ErrMalformed)
			}
			s.w.Write([]byte{0xFF, mEOI})
			if _, err := s.r.Peek(1); err == nil {
				s.res.Removed = append(s.res.Removed, "data after the end")
			}
			return nil
		case m == mSOI:
			return fmt.Errorf("%w: jpeg: a second start of image", ErrMalformed)
		case m >= 0xD0 && m <= 0xD7 || m == 0x01:
			s.w.Write([]byte{0xFF, m}) // standalone, no length
			m, err = s.marker()
		case m == mSOS:
			if s.probe {
				return nil
			}
			if err = s.copySegment(m); err == nil {
				s.scanned = true
				m, err = s.scan()
			}
		case m >= mAPP0 && m <= mAPPF || m == mCOM:
			if err = s.metadata(m); err == nil {
				m, err = s.marker()
			}
		default:
			if err = s.copySegment(m); err == nil {
				m, err = s.marker()
			}
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: jpeg: truncated", ErrMalformed)
	}
	return err
}

// marker reads the next marker between segments, skipping fill bytes.
func (s *jpegStrip) marker() (byte, error) {
	b, err := s.r.ReadByte()
	if err != nil {
		return 0, err
	}
	if b != 0xFF {
		return 0, fmt.Errorf("%w: jpeg: byte %#02x where a marker belongs", ErrMalformed, b)
	}
	for b == 0xFF {
		if b, err = s.r.ReadByte(); err != nil {
			return 0, err
		}
	}
	if b == 0 {
		return 0, fmt.Errorf("%w: jpeg: stuffed byte where a marker belongs", ErrMalformed)
	}
	return b, nil
}

// length reads a segment's length field and returns the payload's length.
func (s *jpegStrip) length() (int, error) {
	var l [2]byte
	if _, err := io.ReadFull(s.r, l[:]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if n < 2 {
		return 0, fmt.Errorf("%w: jpeg: segment length %d", ErrMalformed, n)
	}
	return n - 2, nil
}

// copySegment copies a segment with a length (marker m already read).
func (s *jpegStrip) copySegment(m byte) error {
	n, err := s.length()
	if err != nil {
		return err
	}
	s.w.Write([]byte{0xFF, m, byte((n + 2) >> 8), byte(n + 2)})
	_, err = io.CopyN(s.w, s.r, int64(n))
	return err
}

// scan copies entropy-coded data after a SOS header up to the next marker,
// which it returns: stuffed bytes (FF 00) and restart markers are data.
func (s *jpegStrip) scan() (byte, error) {
	for {
		chunk, err := s.r.ReadSlice(0xFF)
		if err == bufio.ErrBufferFull {
			s.w.Write(chunk)
			continue
		}
		if err != nil {
			return 0, err
		}
		s.w.Write(chunk[:len(chunk)-1])
		b, err := s.r.ReadByte()
		for err == nil && b == 0xFF { // fill bytes before a marker
			b, err = s.r.ReadByte()
		}
		switch {
		case err != nil:
			return 0, err
		case b == 0 || b >= 0xD0 && b <= 0xD7:
			s.w.Write([]byte{0xFF, b})
		default:
			return b, nil
		}
	}
}

// metadata reads an APPn or COM segment and writes what is kept of it.
func (s *jpegStrip) metadata(m byte) error {
	n, err := s.length()
	if err != nil {
		return err
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(s.r, p); err != nil {
		return err
	}
	switch {
	case m == mAPP0 && bytes.HasPrefix(p, []byte("JFIF\x00")) && len(p) >= 14:
		// Version, units and density; the thumbnail (which may show what
		// a crop removed) is left out.
		jfif := append(append([]byte(nil), p[:12]...), 0, 0)
		s.segment(m, jfif)
		if len(p) > 14 {
			s.res.Removed = append(s.res.Removed, "APP0 JFIF thumbnail")
		}
		return nil
	case m == mAPP2 && bytes.HasPrefix(p, []byte("ICC_PROFILE\x00")),
		m == mAPPE && bytes.HasPrefix(p, []byte("Adobe")):
		s.segment(m, p)
		return nil
	case m == mAPP1 && bytes.HasPrefix(p, []byte(exifHeader)):
		o := exifOrientation(p[len(exifHeader):])
		kept := append([]byte(exifHeader), orientationTIFF(o)...)
		if o <= 1 || s.oriented || !bytes.Equal(p, kept) {
			s.res.Removed = append(s.res.Removed, "APP1 Exif")
		}
		if o > 1 && !s.oriented {
			s.segment(m, kept)
			s.oriented, s.res.Orientation = true, o
		}
		return nil
	}
	s.res.Removed = append(s.res.Removed, segmentName(m, p))
	return nil
}

// segment writes a segment with payload p.
func (s *jpegStrip) segment(m byte, p []byte) {
	s.w.Write([]byte{0xFF, m, byte((len(p) + 2) >> 8), byte(len(p) + 2)})
	s.w.Write(p)
}

// segmentName names a removed segment for Stripped.Removed: its marker and
// the identifier string its payload starts with, if printable.
func segmentName(m byte, p []byte) string {
	if m == mCOM {
		return "COM"
	}
	name := fmt.Sprintf("APP%d", m-mAPP0)
	id, _, _ := bytes.Cut(p[:min(len(p), 32)], []byte{0})
	for _, c := range id {
		if c < 0x20 || c > 0x7E {
			return name
		}
	}
	if len(id) > 0 {
		name += " " + string(id)
	}
	return name
}

// jpegOrientation returns the EXIF orientation of a JPEG, reading only the
// segments before its first scan.
func jpegOrientation(src io.Reader) Orientation {
	s := &jpegStrip{r: bufio.NewReader(src), w: bufio.NewWriter(io.Discard), probe: true}
	if s.run() != nil {
		return 0
	}
	return s.res.Orientation
}
