package media

import (
	"bytes"
	"testing"
)

func TestSniff(t *testing.T) {
	tests := []struct {
		name   string
		head   []byte
		want   string
		inline bool
	}{
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"), TypePNG, true},
		{"jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE0}, TypeJPEG, true},
		{"gif", []byte("GIF89a\x01\x00"), TypeGIF, true},
		{"webp", []byte("RIFF\x24\x00\x00\x00WEBPVP8 "), TypeWebP, true},
		{"riff but not webp", []byte("RIFF\x24\x00\x00\x00WEBPXXXX"), TypeBinary, false},
		{"wav", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), TypeWAV, true},
		{"avi is not inline", []byte("RIFF\x24\x00\x00\x00AVI LIST"), "video/avi", false},
		{"mp4", []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"), TypeMP4, true},
		{"mp4 mp42", []byte("\x00\x00\x00\x14ftypmp42\x00\x00\x00\x00mp42"), TypeMP4, true},
		{"m4a", []byte("\x00\x00\x00\x14ftypM4A \x00\x00\x00\x00M4A "), TypeM4A, true},
		{"mov", []byte("\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  "), TypeMOV, true},
		{"avif", []byte("\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf"), TypeAVIF, true},
		{"avif with a heif major brand", []byte("\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf"), TypeAVIF, true},
		{"heic is not inline", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), TypeHEIC, false},
		{"unknown ftyp brand", []byte("\x00\x00\x00\x14ftypcrx \x00\x00\x00\x01crx "), TypeBinary, false},
		{"ftyp with a bad size", []byte("\x00\x00\x00\x03ftypisom\x00\x00\x02\x00"), TypeBinary, false},
		{"webm", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm"), TypeWebM, true},
		{"matroska is not inline", []byte("\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska"), TypeBinary, false},
		{"mp3 with ID3", []byte("ID3\x04\x00\x00"), TypeMP3, true},
		{"mp3 frame", []byte{0xFF, 0xFB, 0x90, 0x64}, TypeMP3, true},
		{"aac adts is not mp3", []byte{0xFF, 0xF1, 0x50, 0x80, 0, 0}, TypeBinary, false},
		{"mp3 reserved bitrate", []byte{0xFF, 0xFB, 0xF0, 0x64, 0, 0}, TypeBinary, false},
		{"ogg", []byte("OggS\x00\x02"), TypeOgg, true},
		{"flac", []byte("fLaC\x00\x00\x00\x22"), TypeFLAC, true},
		{"pdf", []byte("%PDF-1.7\n"), TypePDF, true},
		{"html", []byte("<!DOCTYPE html><script>alert(1)</script>"), TypeHTML, false},
		{"html after spaces", []byte("\n\t <html><body>"), TypeHTML, false},
		{"html named as an image still html", []byte("<HTML><img src=x onerror=alert(1)>"), TypeHTML, false},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), TypeSVG, false},
		{"svg with an xml prolog", []byte("<?xml version=\"1.0\"?>\n<!-- x -->\n<SVG>"), TypeSVG, false},
		{"xml", []byte("<?xml version=\"1.0\"?><feed/>"), "text/xml; charset=utf-8", false},
		{"text", []byte("hello, world\n"), "text/plain; charset=utf-8", false},
		{"zip", []byte("PK\x03\x04\x14\x00"), "application/zip", false},
		{"empty", nil, "text/plain; charset=utf-8", false},
		{"binary", []byte{0, 1, 2, 3, 4, 5}, TypeBinary, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sniff(tt.head); got != tt.want {
				t.Errorf("Sniff = %q, want %q", got, tt.want)
			}
			if got := Inline(Sniff(tt.head)); got != tt.inline {
				t.Errorf("Inline = %v, want %v", got, tt.inline)
			}
		})
	}
}

// TestSniffFixtures sniffs whole files as an upload would: the images by
// their content whatever their names, the hostile ones as attachments.
func TestSniffFixtures(t *testing.T) {
	for name, want := range map[string]string{
		"gps.jpg": TypeJPEG, "progressive.jpg": TypeJPEG, "gps.png": TypePNG, "bomb.png": TypePNG,
		"hostile.html": TypeHTML, "script.svg": TypeSVG,
	} {
		if got := Sniff(mustRead(t, name)); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
}

// FuzzSniff: Sniff never panics, looks at SniffLen bytes only, and never
// calls markup inline (no inline type starts with '<').
func FuzzSniff(f *testing.F) {
	for _, s := range []string{"\x89PNG\r\n\x1a\n", "\xff\xd8\xff", "RIFF\x00\x00\x00\x00WEBPVP8L", "\x00\x00\x00\x18ftypisom", "<svg", "<html>", "ID3", "\x1a\x45\xdf\xa3\x42\x82\x84webm"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		got := Sniff(head)
		if len(head) > SniffLen && Sniff(head[:SniffLen]) != got {
			t.Fatalf("Sniff reads past SniffLen")
		}
		if Inline(got) && bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n\f"), []byte("<")) {
			t.Fatalf("markup sniffed as %q", got)
		}
	})
}
