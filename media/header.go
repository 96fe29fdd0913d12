package media

import (
	"net/http"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Content security policies a file is served with. An attachment gets a
// sandbox, so that even a browser that ignored Content-Disposition and
// rendered it would give it a unique opaque origin with no script. Inline
// media may load nothing at all; the inline styles are those of the page a
// browser makes to show an image or a video on its own. PDFs cannot have
// the sandbox: Chromium refuses to run its viewer in a sandboxed document.
const (
	cspAttachment = "sandbox; default-src 'none'"
	cspInline     = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"
	cspPDF        = "default-src 'none'; object-src 'self'; style-src 'unsafe-inline'"
)

// MaxNameBytes bounds a cleaned file name, in bytes of UTF-8.
const MaxNameBytes = 200

// Headers returns the headers to serve a file of the sniffed type mime
// under the given name with: its Content-Type (application/octet-stream for
// every attachment), X-Content-Type-Options: nosniff, Content-Disposition
// (inline only for the types Inline allows; the name cleaned by CleanName
// and encoded as RFC 6266 and RFC 5987 say) and a Content-Security-Policy.
// The caller adds caching, length and range headers.
func Headers(mime, name string) http.Header {
	h := http.Header{}
	h.Set("X-Content-Type-Options", "nosniff")
	disposition := "attachment"
	switch {
	case !Inline(mime):
		h.Set("Content-Type", TypeBinary)
		h.Set("Content-Security-Policy", cspAttachment)
	case mime == TypePDF:
		disposition = "inline"
		h.Set("Content-Type", mime)
		h.Set("Content-Security-Policy", cspPDF)
	default:
		disposition = "inline"
		h.Set("Content-Type", mime)
		h.Set("Content-Security-Policy", cspInline)
	}
	h.Set("Content-Disposition", ContentDisposition(disposition, ServedName(mime, name)))
	return h
}

// ServedName returns the name a file of type mime is offered under: the
// cleaned name, and for an inline type an extension that matches what the
// file really is, appended if the name has another, so that a PNG named
// "page.html" is saved as "page.html.png".
func ServedName(mime, name string) string {
	name = CleanName(name)
	exts, ok := inline[mime]
	if !ok {
		return name
	}
	ext := strings.ToLower(path.Ext(name))
	for _, e := range exts {
		if ext == e {
			return name
		}
	}
	return CleanName(name + exts[0])
}

// CleanName returns a file name that is safe to store, show and offer for
// download: the last element of any path (/ or \), invalid UTF-8 replaced,
// without control, format (bidi overrides, zero-width) or other invisible
// characters that could disguise its extension, trimmed of spaces and
// dots at the ends, at most MaxNameBytes long (the extension kept), and
// "file" if nothing is left.
func CleanName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError:
			return '_'
		case unicode.IsSpace(r): // tabs, line breaks, odd widths of space
			return ' '
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Co, r):
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, "_"))
	name = strings.Trim(name, " .")
	if len(name) > MaxNameBytes {
		ext := path.Ext(name)
		if len(ext) > 16 || !utf8.ValidString(ext) {
			ext = ""
		}
		name = strings.Trim(truncateUTF8(name[:len(name)-len(ext)], MaxNameBytes-len(ext))+ext, " .")
	}
	if name == "" || name == "." || name == ".." {
		return "file"
	}
	return name
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ContentDisposition returns a Content-Disposition value (RFC 6266) of the
// given disposition type for name: an ASCII filename for old clients
// (other characters as '_', no quote or backslash) and, when the name is
// not plain ASCII, filename* in RFC 5987's UTF-8 percent encoding.
func ContentDisposition(disposition, name string) string {
	name = CleanName(name)
	var ascii strings.Builder
	plain := true
	for _, r := range name {
		if r < 0x20 || r > 0x7E || r == '"' || r == '\\' || r == '%' {
			ascii.WriteByte('_')
			plain = false
			continue
		}
		ascii.WriteRune(r)
	}
	v := disposition + `; filename="` + ascii.String() + `"`
	if !plain {
		v += "; filename*=UTF-8''" + encodeRFC5987(name)
	}
	return v
}

// encodeRFC5987 percent-encodes every byte of s that is not an attr-char.
func encodeRFC5987(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// isAttrChar reports whether c may appear unencoded in an RFC 5987 value.
func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
