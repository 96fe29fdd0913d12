package media

import (
	"bytes"
	"slices"
	"testing"
)

// TestStripPNGRemovesGPS strips a PNG with EXIF (GPS, orientation 3), XMP
// and text chunks, and checks that only the orientation is left and the
// image data and pixels are untouched.
func TestStripPNGRemovesGPS(t *testing.T) {
	orig := mustRead(t, "gps.png")
	var exif []byte
	for _, c := range pngChunks(t, orig) {
		if c.typ == "eXIf" {
			exif = c.data
		}
	}
	if exif == nil || !slices.Contains(ifd0Tags(t, exif), 0x8825) {
		t.Fatal("the fixture has no GPS directory: the test would prove nothing")
	}
	got, res := stripSecrets(t, StripPNG, orig)
	var kept []string
	for _, c := range pngChunks(t, got) {
		kept = append(kept, c.typ)
		if c.typ == "eXIf" && !bytes.Equal(c.data, orientationTIFF(3)) {
			t.Errorf("eXIf %q, want only the orientation", c.data)
		}
	}
	if want := []string{"IHDR", "eXIf", "IDAT", "IEND"}; !slices.Equal(kept, want) && !slices.Equal(kept, []string{"IHDR", "IDAT", "eXIf", "IEND"}) {
		t.Errorf("chunks %q, want %q", kept, want)
	}
	if res.Orientation != 3 {
		t.Errorf("orientation %d, want 3", res.Orientation)
	}
	if a, b := decodePixels(t, orig), decodePixels(t, got); !bytes.Equal(a.Pix, b.Pix) {
		t.Error("stripped image decodes to other pixels")
	}
}

// TestStripPNGChunks checks chunk by chunk what is kept and dropped.
func TestStripPNGChunks(t *testing.T) {
	base := encodePNG(t, testImage(16, 8, false))
	tests := []struct {
		name    string
		in      []chunk
		want    []chunk
		removed []string
	}{
		{"colour chunks kept", []chunk{{"gAMA", []byte{0, 0, 0xB1, 0x8F}}, {"sRGB", []byte{0}}, {"cHRM", make([]byte, 32)}, {"pHYs", make([]byte, 9)}},
			[]chunk{{"gAMA", []byte{0, 0, 0xB1, 0x8F}}, {"sRGB", []byte{0}}, {"cHRM", make([]byte, 32)}, {"pHYs", make([]byte, 9)}}, nil},
		{"ICC profile kept", []chunk{{"iCCP", []byte("icc\x00\x00xyz")}}, []chunk{{"iCCP", []byte("icc\x00\x00xyz")}}, nil},
		{"text dropped", []chunk{{"tEXt", []byte("Comment\x00home")}, {"zTXt", []byte("a\x00\x00x")}, {"iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00<x/>")}},
			nil, []string{"tEXt", "zTXt", "iTXt"}},
		{"time and private chunks dropped", []chunk{{"tIME", make([]byte, 7)}, {"prVt", []byte("secret")}}, nil, []string{"tIME", "prVt"}},
		{"upright eXIf dropped", []chunk{{"eXIf", orientationTIFF(1)}}, nil, []string{"eXIf"}},
		{"malformed eXIf dropped", []chunk{{"eXIf", []byte("MM\x00*\xff\xff\xff\xff")}}, nil, []string{"eXIf"}},
		{"orientation kept", []chunk{{"eXIf", orientationTIFF(6)}}, []chunk{{"eXIf", orientationTIFF(6)}}, []string{"eXIf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			res, err := StripPNG(&out, bytes.NewReader(withChunks(base, tt.in...)))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Removed, tt.removed) {
				t.Errorf("removed %q, want %q", res.Removed, tt.removed)
			}
			if want := withChunks(base, tt.want...); !bytes.Equal(out.Bytes(), want) {
				t.Errorf("got chunks %q, want %q", pngChunks(t, out.Bytes()), pngChunks(t, want))
			}
		})
	}
	t.Run("data after the end", func(t *testing.T) {
		var out bytes.Buffer
		res, err := StripPNG(&out, bytes.NewReader(append(slices.Clone(base), "PK\x03\x04 a zip"...)))
		if err != nil || !bytes.Equal(out.Bytes(), base) || !slices.Equal(res.Removed, []string{"data after the end"}) {
			t.Errorf("got %v, %d bytes, removed %q; want the PNG alone", err, out.Len(), res.Removed)
		}
	})
}

func TestStripPNGMalformed(t *testing.T) {
	good := encodePNG(t, testImage(16, 16, false))
	badCRC := slices.Clone(good)
	badCRC[8+8+13] ^= 1 // IHDR's CRC
	noIDAT := append(slices.Clone(good[:8+25]), pngChunk("IEND", nil)...)
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not a PNG", []byte("\x89PNG\r\n\x1a\x00")},
		{"only the signature", good[:8]},
		{"IHDR not first", append(append(slices.Clone(good[:8]), pngChunk("gAMA", make([]byte, 4))...), good[8:]...)},
		{"bad CRC", badCRC},
		{"no image data", noIDAT},
		{"truncated", good[:len(good)-20]},
		{"no IEND", good[:len(good)-12]},
		{"bad chunk type", append(slices.Clone(good[:8+25]), "\x00\x00\x00\x00ID@T\x00\x00\x00\x00"...)},
		{"length over 2^31-1", append(slices.Clone(good[:8+25]), "\x80\x00\x00\x00IDAT"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantMalformed(t, StripPNG, tt.in) })
	}
}

// FuzzStripPNG: any input strips to a file that strips again to itself
// with nothing removed, or fails with ErrMalformed; it never panics.
func FuzzStripPNG(f *testing.F) {
	f.Add(mustRead(f, "gps.png"))
	f.Add(encodePNG(f, testImage(4, 4, false)))
	f.Add(withChunks(encodePNG(f, testImage(2, 2, false)), chunk{"eXIf", orientationTIFF(5)}, chunk{"tEXt", []byte("a\x00b")}))
	// The orientation's eXIf is read and written again: "removed".
	f.Fuzz(func(t *testing.T, in []byte) { checkIdempotent(t, StripPNG, in, "eXIf") })
}
