package media

import (
	"bytes"
	"net/http"
	"strings"
)

// SniffLen is how many leading bytes of a file Sniff needs to decide its
// type; it reads no further.
const SniffLen = 512

// Types Parley treats specially. The others come from
// http.DetectContentType and are always attachments.
const (
	TypePNG  = "image/png"
	TypeJPEG = "image/jpeg"
	TypeGIF  = "image/gif"
	TypeWebP = "image/webp"
	TypeAVIF = "image/avif"
	TypeMP4  = "video/mp4"
	TypeMOV  = "video/quicktime"
	TypeWebM = "video/webm"
	TypeMP3  = "audio/mpeg"
	TypeM4A  = "audio/mp4"
	TypeOgg  = "audio/ogg"
	TypeWAV  = "audio/wav"
	TypeFLAC = "audio/flac"
	TypePDF  = "application/pdf"
	TypeHEIC = "image/heic"
	TypeSVG  = "image/svg+xml"
	TypeHTML = "text/html; charset=utf-8"
	// TypeBinary is what every attachment is served as.
	TypeBinary = "application/octet-stream"
)

// inline lists the types a browser may show in place, with the file name
// extensions that go with each. Nothing on it can run script in a page of
// the origin that serves it: no HTML, no SVG, no XML.
var inline = map[string][]string{
	TypePNG:  {".png", ".apng"},
	TypeJPEG: {".jpg", ".jpeg", ".jpe", ".jfif"},
	TypeGIF:  {".gif"},
	TypeWebP: {".webp"},
	TypeAVIF: {".avif"},
	TypeMP4:  {".mp4", ".m4v"},
	TypeMOV:  {".mov", ".qt"},
	TypeWebM: {".webm"},
	TypeMP3:  {".mp3"},
	TypeM4A:  {".m4a", ".m4b"},
	TypeOgg:  {".ogg", ".oga", ".opus"},
	TypeWAV:  {".wav"},
	TypeFLAC: {".flac"},
	TypePDF:  {".pdf"},
}

// Inline reports whether a file of the sniffed type mime is shown in the
// browser (an image, a video, a sound, a PDF); every other file is only
// ever downloaded. A client deciding whether to preview a file must ask
// this, not look at the type's prefix: image/svg+xml is not inline.
func Inline(mime string) bool {
	_, ok := inline[mime]
	return ok
}

// Sniff returns the MIME type of a file from its first bytes (SniffLen are
// enough; fewer are fine for a shorter file). It never trusts a name or a
// client's Content-Type. Inline types are recognised by their exact
// signatures; SVG is told apart from other XML so it can be named; the rest
// is http.DetectContentType's answer.
func Sniff(head []byte) string {
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	switch {
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return TypePNG
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return TypeJPEG
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return TypeGIF
	case riff(head, "WEBP") && len(head) >= 16 && string(head[12:15]) == "VP8":
		return TypeWebP
	case riff(head, "WAVE"):
		return TypeWAV
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return TypePDF
	case bytes.HasPrefix(head, []byte("OggS\x00")):
		return TypeOgg
	case bytes.HasPrefix(head, []byte("fLaC")):
		return TypeFLAC
	case bytes.HasPrefix(head, []byte("ID3")) || mp3Frame(head):
		return TypeMP3
	case bytes.HasPrefix(head, []byte{0x1A, 0x45, 0xDF, 0xA3}):
		if webm(head) {
			return TypeWebM
		}
		return TypeBinary // Matroska: browsers play only its WebM subset
	}
	if t := ftyp(head); t != "" {
		return t
	}
	t := http.DetectContentType(head)
	if svg(head, t) {
		return TypeSVG
	}
	return t
}

// riff reports whether head is a RIFF container of the given form.
func riff(head []byte, form string) bool {
	return len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == form
}

// mp3Frame reports whether head starts with an MPEG audio layer III frame
// header whose fields are all valid (ADTS AAC has layer bits 00; reserved
// versions, bit rates and sample rates are refused).
func mp3Frame(head []byte) bool {
	if len(head) < 4 || head[0] != 0xFF || head[1]&0xE0 != 0xE0 {
		return false
	}
	version, layer := head[1]>>3&3, head[1]>>1&3
	bitrate, rate := head[2]>>4, head[2]>>2&3
	return version != 1 && layer == 1 && bitrate != 0 && bitrate != 15 && rate != 3
}

// webm reports whether an EBML header names the webm doc type: the DocType
// element (0x42 0x82) with a one-byte size of 4 followed by "webm".
func webm(head []byte) bool {
	return bytes.Contains(head, []byte("\x42\x82\x84webm"))
}

// ftyp returns the type of an ISO base media file (MP4, MOV, AVIF, HEIC)
// from its ftyp box, or "" if head has none or a brand not listed here.
func ftyp(head []byte) string {
	if len(head) < 12 || string(head[4:8]) != "ftyp" {
		return ""
	}
	size := int(head[0])<<24 | int(head[1])<<16 | int(head[2])<<8 | int(head[3])
	if size < 16 || size%4 != 0 {
		return ""
	}
	brands := head[8:min(size, len(head))]
	var found []string
	for i := 0; i+4 <= len(brands); i += 4 {
		if i != 4 { // bytes 4..8 are the minor version, not a brand
			found = append(found, string(brands[i:i+4]))
		}
	}
	for _, b := range found { // an AVIF may have a HEIF major brand
		if b == "avif" || b == "avis" {
			return TypeAVIF
		}
	}
	switch major := found[0]; major {
	case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
		return TypeHEIC
	case "M4A ", "M4B ":
		return TypeM4A
	case "qt  ":
		return TypeMOV
	case "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "iso8", "iso9",
		"mp41", "mp42", "mp71", "avc1", "dash", "M4V ", "M4VH", "M4VP", "mmp4", "MSNV", "f4v ":
		return TypeMP4
	}
	return ""
}

// svg reports whether a file that sniffed as text or XML is an SVG image:
// an <svg element near the start, whatever the case.
func svg(head []byte, detected string) bool {
	if !strings.HasPrefix(detected, "text/") {
		return false
	}
	return bytes.Contains(bytes.ToLower(head), []byte("<svg"))
}
