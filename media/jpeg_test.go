package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// secrets are strings the fixtures' metadata holds (see testdata/README.md).
var secrets = []string{"FixtureCam", "Model X", "SN123456789", "2024:05:01", "Alice Fixture", "secretplace", "Paris", "taken at home", "GPS"}

// ifd0Tags lists the tags of a TIFF structure's first directory.
func ifd0Tags(tb testing.TB, tiff []byte) []uint16 {
	tb.Helper()
	order := binary.ByteOrder(binary.BigEndian)
	if string(tiff[:2]) == "II" {
		order = binary.LittleEndian
	}
	ifd := order.Uint32(tiff[4:])
	n := int(order.Uint16(tiff[ifd:]))
	var tags []uint16
	for i := 0; i < n; i++ {
		tags = append(tags, order.Uint16(tiff[int(ifd)+2+12*i:]))
	}
	return tags
}

// TestStripJPEGRemovesGPS strips a camera-like JPEG (EXIF with GPS, a
// thumbnail and camera data; XMP with GPS; IPTC; a comment) and checks that
// none of it is left but the orientation, and that the image data and the
// decoded pixels are untouched. Baseline, progressive (tables between
// scans) and with restart markers.
func TestStripJPEGRemovesGPS(t *testing.T) {
	for _, name := range []string{"gps.jpg", "progressive.jpg", "restart.jpg"} {
		t.Run(name, func(t *testing.T) {
			orig := mustRead(t, name)
			var sawGPS bool
			for _, s := range jpegSegments(t, orig) {
				if s.marker == mAPP1 && bytes.HasPrefix(s.payload, []byte(exifHeader)) {
					sawGPS = slices.Contains(ifd0Tags(t, s.payload[6:]), 0x8825) // GPS IFD pointer
				}
			}
			if !sawGPS {
				t.Fatal("the fixture has no GPS directory: the test would prove nothing")
			}
			got, res := stripSecrets(t, StripJPEG, orig)
			var app1 [][]byte
			for _, s := range jpegSegments(t, got) {
				switch {
				case s.marker == mAPP1:
					app1 = append(app1, s.payload)
				case s.marker >= mAPP0 && s.marker <= mAPPF || s.marker == mCOM:
					t.Errorf("segment %#x %q kept", s.marker, s.payload[:min(len(s.payload), 12)])
				}
			}
			want := append([]byte(exifHeader), orientationTIFF(6)...)
			if len(app1) != 1 || !bytes.Equal(app1[0], want) {
				t.Errorf("APP1 segments %q, want only the orientation %q", app1, want)
			}
			if got := ifd0Tags(t, app1[0][6:]); !slices.Equal(got, []uint16{tagOrientation}) {
				t.Errorf("EXIF tags %#x, want only the orientation", got)
			}
			if res.Orientation != 6 {
				t.Errorf("orientation %d, want 6", res.Orientation)
			}
			// Lossless: everything from the first scan on is the same bytes.
			if !bytes.Equal(got[firstScan(t, got):], orig[firstScan(t, orig):]) {
				t.Error("image data changed")
			}
			if a, b := decodePixels(t, orig), decodePixels(t, got); !bytes.Equal(a.Pix, b.Pix) {
				t.Error("stripped image decodes to other pixels")
			}
		})
	}
}

// TestStripJPEGSegments checks what is kept and dropped, segment by
// segment, on a JPEG with the segment added.
func TestStripJPEGSegments(t *testing.T) {
	base := encodeJPEG(t, testImage(32, 16, false), 90)
	icc := append([]byte("ICC_PROFILE\x00\x01\x01"), bytes.Repeat([]byte{7}, 300)...)
	adobe := []byte("Adobe\x00\x64\x00\x00\x00\x00\x01")
	jfif := []byte("JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x00\x00")
	jfifThumb := append([]byte("JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x02\x01"), bytes.Repeat([]byte{9}, 6)...)
	exif := func(o Orientation) segment {
		return segment{mAPP1, append([]byte(exifHeader), orientationTIFF(o)...)}
	}
	tests := []struct {
		name    string
		in      []segment
		want    []segment // kept segments before the image's own
		removed []string
		trailer bool
	}{
		{"ICC profile kept", []segment{{mAPP2, icc}}, []segment{{mAPP2, icc}}, nil, false},
		{"Adobe kept", []segment{{mAPPE, adobe}}, []segment{{mAPPE, adobe}}, nil, false},
		{"JFIF kept", []segment{{mAPP0, jfif}}, []segment{{mAPP0, jfif}}, nil, false},
		{"JFIF thumbnail dropped", []segment{{mAPP0, jfifThumb}}, []segment{{mAPP0, jfif[:12:12]}}, []string{"APP0 JFIF thumbnail"}, false},
		{"upright EXIF dropped whole", []segment{exif(1)}, nil, []string{"APP1 Exif"}, false},
		{"first orientation kept once", []segment{exif(8), exif(3)}, []segment{exif(8)}, []string{"APP1 Exif"}, false},
		{"comment", []segment{{mCOM, []byte("hello")}}, nil, []string{"COM"}, false},
		{"XMP", []segment{{mAPP1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta/>")}}, nil, []string{"APP1 http://ns.adobe.com/xap/1.0/"}, false},
		{"MPF", []segment{{mAPP2, []byte("MPF\x00II*\x00")}}, nil, []string{"APP2 MPF"}, false},
		{"binary APP15", []segment{{mAPPF, []byte{1, 2, 3}}}, nil, []string{"APP15"}, false},
		{"data after the end", nil, nil, []string{"data after the end"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := withSegments(base, tt.in...)
			if tt.trailer {
				in = append(in, []byte("\x00\x00\x00\x18ftypmp42 a motion photo")...)
			}
			var out bytes.Buffer
			res, err := StripJPEG(&out, bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Removed, tt.removed) {
				t.Errorf("removed %q, want %q", res.Removed, tt.removed)
			}
			// jfif[:12:12] stands for "JFIF without thumbnail": its sizes zero.
			want := withSegments(base, fixJFIF(tt.want)...)
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("got %d bytes, want %d: %q", out.Len(), len(want), jpegSegments(t, out.Bytes())[:2])
			}
		})
	}
}

// fixJFIF turns a 12-byte JFIF payload into the 14-byte one without a
// thumbnail that StripJPEG writes.
func fixJFIF(segs []segment) []segment {
	out := slices.Clone(segs)
	for i, s := range out {
		if s.marker == mAPP0 && len(s.payload) == 12 {
			out[i].payload = append(slices.Clone(s.payload), 0, 0)
		}
	}
	return out
}

func TestStripJPEGMalformed(t *testing.T) {
	good := encodeJPEG(t, testImage(16, 16, false), 90)
	sos := firstScan(t, good)
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not a JPEG", []byte("GIF89a")},
		{"only SOI", []byte{0xFF, 0xD8}},
		{"no image data", []byte{0xFF, 0xD8, 0xFF, 0xD9}},
		{"truncated segment", good[:20]},
		{"truncated in the scan", good[:sos+40]},
		{"no end of image", good[:len(good)-2]},
		{"second SOI", withSegments([]byte{0xFF, 0xD8, 0xFF, 0xD8}, segment{mCOM, []byte("x")})},
		{"length below 2", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x01}},
		{"garbage between segments", append([]byte{0xFF, 0xD8, 0x42}, good[2:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantMalformed(t, StripJPEG, tt.in) })
	}
}

// FuzzStripJPEG: any input either strips to a file that strips again to
// itself with nothing removed (stripping is idempotent, so nothing it
// writes is metadata), or fails with ErrMalformed; it never panics.
func FuzzStripJPEG(f *testing.F) {
	f.Add(mustRead(f, "gps.jpg"))
	f.Add(mustRead(f, "progressive.jpg"))
	f.Add(mustRead(f, "restart.jpg"))
	f.Add(encodeJPEG(f, testImage(8, 8, false), 50))
	f.Fuzz(func(t *testing.T, in []byte) { checkIdempotent(t, StripJPEG, in, "") })
}

// stripSecrets strips orig and fails if any of the fixtures' secrets
// that orig holds is still in the result.
func stripSecrets(t *testing.T, strip func(io.Writer, io.Reader) (Stripped, error), orig []byte) ([]byte, Stripped) {
	t.Helper()
	var out bytes.Buffer
	res, err := strip(&out, bytes.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(orig), s) && bytes.Contains(out.Bytes(), []byte(s)) {
			t.Errorf("stripped file still holds %q", s)
		}
	}
	return out.Bytes(), res
}

// wantMalformed fails unless strip refuses in with ErrMalformed.
func wantMalformed(t *testing.T, strip func(io.Writer, io.Reader) (Stripped, error), in []byte) {
	t.Helper()
	if _, err := strip(&bytes.Buffer{}, bytes.NewReader(in)); !errors.Is(err, ErrMalformed) {
		t.Errorf("got %v, want ErrMalformed", err)
	}
}

// checkIdempotent fails unless strip either refuses in with ErrMalformed
// or gives a file that strips again to the same bytes, removing nothing
// (but rewritten, the one chunk type named, if any).
func checkIdempotent(t *testing.T, strip func(io.Writer, io.Reader) (Stripped, error), in []byte, rewritten string) {
	var out bytes.Buffer
	if _, err := strip(&out, bytes.NewReader(in)); err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v is not ErrMalformed", err)
		}
		return
	}
	var again bytes.Buffer
	res, err := strip(&again, bytes.NewReader(out.Bytes()))
	if err != nil || !bytes.Equal(again.Bytes(), out.Bytes()) {
		t.Fatalf("stripping the stripped file: %v, same %v", err, bytes.Equal(again.Bytes(), out.Bytes()))
	}
	for _, r := range res.Removed {
		if r != rewritten {
			t.Fatalf("stripping the stripped file removed %q", res.Removed)
		}
	}
}
