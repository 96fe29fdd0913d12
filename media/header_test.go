package media

import (
	"mime"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHeaders(t *testing.T) {
	tests := []struct {
		name, mime, file string
		wantType         string
		wantDisp         string
		sandbox          bool
	}{
		{"png inline", TypePNG, "cat.png", TypePNG, `inline; filename="cat.png"`, true},
		{"jpeg gets its extension", TypeJPEG, "page.html", TypeJPEG, `inline; filename="page.html.jpg"`, true},
		{"video inline", TypeMP4, "clip.MP4", TypeMP4, `inline; filename="clip.MP4"`, true},
		{"pdf inline without sandbox", TypePDF, "a.pdf", TypePDF, `inline; filename="a.pdf"`, false},
		{"html attachment", TypeHTML, "index.html", TypeBinary, `attachment; filename="index.html"`, true},
		{"html named as an image", TypeHTML, "cat.png", TypeBinary, `attachment; filename="cat.png"`, true},
		{"svg attachment", TypeSVG, "logo.svg", TypeBinary, `attachment; filename="logo.svg"`, true},
		{"zip attachment", "application/zip", "x.zip", TypeBinary, `attachment; filename="x.zip"`, true},
		{"unicode name", TypePNG, "café ☕.png", TypePNG, `inline; filename="caf_ _.png"; filename*=UTF-8''caf%C3%A9%20%E2%98%95.png`, true},
		{"quotes and path", TypeBinary, `..\..\"evil".bat`, TypeBinary, `attachment; filename="_evil_.bat"; filename*=UTF-8''%22evil%22.bat`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Headers(tt.mime, tt.file)
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if got := h.Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if got := h.Get("Content-Disposition"); got != tt.wantDisp {
				t.Errorf("Content-Disposition %q, want %q", got, tt.wantDisp)
			}
			csp := h.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
				t.Errorf("CSP %q lets something load", csp)
			}
			if got := strings.HasPrefix(csp, "sandbox"); got != tt.sandbox {
				t.Errorf("CSP %q: sandbox %v, want %v", csp, got, tt.sandbox)
			}
		})
	}
}

func TestCleanName(t *testing.T) {
	long := strings.Repeat("é", 150) + ".jpeg"
	tests := []struct{ in, want string }{
		{"photo.jpg", "photo.jpg"},
		{"/etc/passwd", "passwd"},
		{`C:\Users\me\Desktop\report.pdf`, "report.pdf"},
		{"../../x", "x"},
		{"..", "file"},
		{"", "file"},
		{"   ", "file"},
		{" .hidden. ", "hidden"},
		{"invoice\u202Efdp.exe", "invoicefdp.exe"}, // right-to-left override
		{"a\u200Bb\uFEFFc", "abc"},                 // zero-width
		{"line\nbreak\ttab", "line break tab"},
		{"nul\x00byte", "nulbyte"},
		{"bad\xffutf8", "bad_utf8"},
		{"日本語.txt", "日本語.txt"},
		{long, strings.Repeat("é", (MaxNameBytes-5)/2) + ".jpeg"},
	}
	for _, tt := range tests {
		if got := CleanName(tt.in); got != tt.want {
			t.Errorf("CleanName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzContentDisposition: for any name, the header parses as a
// Content-Disposition whose file name is the cleaned name, and the cleaned
// name is valid UTF-8, short, with no path and no control characters.
func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"a.png", "café.jpg", `"; filename="x.html`, "a\r\nSet-Cookie: x", "%41.txt", "../\u202e.exe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		clean := CleanName(name)
		if !utf8.ValidString(clean) || len(clean) > MaxNameBytes || clean == "" || strings.ContainsAny(clean, "/\\\x00\r\n") {
			t.Fatalf("CleanName(%q) = %q", name, clean)
		}
		if CleanName(clean) != clean {
			t.Fatalf("CleanName is not idempotent on %q", name)
		}
		v := ContentDisposition("attachment", name)
		disp, params, err := mime.ParseMediaType(v)
		if err != nil || disp != "attachment" || params["filename"] != clean {
			t.Fatalf("%q: parsed %q %q %v, want file name %q", v, disp, params, err, clean)
		}
	})
}
