package media

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// mustRead returns a file of testdata/.
func mustRead(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// segment is a JPEG marker segment before the first scan.
type segment struct {
	marker  byte
	payload []byte
}

// jpegSegments lists a JPEG's segments up to and including the first SOS,
// failing the test on a malformed file. It is the test's own parser, kept
// simple and separate from the one under test.
func jpegSegments(tb testing.TB, b []byte) []segment {
	tb.Helper()
	if !bytes.HasPrefix(b, []byte{0xFF, 0xD8}) {
		tb.Fatalf("no SOI")
	}
	var segs []segment
	for i := 2; ; {
		if i+4 > len(b) || b[i] != 0xFF {
			tb.Fatalf("bad marker at %d", i)
		}
		m, n := b[i+1], int(binary.BigEndian.Uint16(b[i+2:]))
		segs = append(segs, segment{m, b[i+4 : i+2+n]})
		if m == mSOS {
			return segs
		}
		i += 2 + n
	}
}

// firstScan returns the offset of a JPEG's first SOS marker (not one of
// a thumbnail inside its metadata).
func firstScan(tb testing.TB, b []byte) int {
	tb.Helper()
	at := 2
	for _, s := range jpegSegments(tb, b) {
		if s.marker == mSOS {
			return at
		}
		at += 4 + len(s.payload)
	}
	panic("unreachable")
}

// chunk is a PNG chunk.
type chunk struct {
	typ  string
	data []byte
}

// pngChunks lists a PNG's chunks (the test's own parser).
func pngChunks(tb testing.TB, b []byte) []chunk {
	tb.Helper()
	var cs []chunk
	for i := 8; i+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[i:]))
		cs = append(cs, chunk{string(b[i+4 : i+8]), b[i+8 : i+8+n]})
		i += 12 + n
	}
	return cs
}

// testImage returns a w×h image with a red square in its top-left corner,
// so a test can tell which way up it is, and noise if noisy (which makes
// large, incompressible files for benchmarks).
func testImage(w, h int, noisy bool) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{uint8(x), uint8(y), 128, 255}
			if noisy {
				c = color.RGBA{uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 255}
			}
			if x < w/4 && y < h/4 {
				c = color.RGBA{255, 0, 0, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func encodeJPEG(tb testing.TB, img image.Image, quality int) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// withSegments returns the JPEG b with segments inserted after SOI.
func withSegments(b []byte, segs ...segment) []byte {
	out := append([]byte(nil), b[:2]...)
	for _, s := range segs {
		out = append(out, 0xFF, s.marker, byte((len(s.payload)+2)>>8), byte(len(s.payload)+2))
		out = append(out, s.payload...)
	}
	return append(out, b[2:]...)
}

// withChunks returns the PNG b with chunks inserted after IHDR.
func withChunks(b []byte, cs ...chunk) []byte {
	out := append([]byte(nil), b[:8+25]...)
	for _, c := range cs {
		out = append(out, pngChunk(c.typ, c.data)...)
	}
	return append(out, b[8+25:]...)
}

// pngChunk encodes one chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	out = append(append(out, typ...), data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}

// decodePixels decodes an image and returns it as RGBA pixels.
func decodePixels(tb testing.TB, b []byte) *image.RGBA {
	tb.Helper()
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		tb.Fatalf("decode: %v", err)
	}
	out := image.NewRGBA(img.Bounds())
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			out.Set(x, y, img.At(x, y))
		}
	}
	return out
}
