package media

import (
	"bytes"
	"fmt"
	"image"
	"io"
	"math"
	"sync"
	"testing"
)

// benchInputs caches the generated inputs: making a 20 MiB image takes
// longer than the benchmark.
var benchInputs sync.Map // string → []byte

// benchImage returns a noisy JPEG or PNG of about size bytes, with EXIF and
// XMP for JPEG. Noise is the worst case for bytes per pixel; a photo of
// the same size has more pixels (see BenchmarkThumbnail's cap case).
func benchImage(b *testing.B, mime string, size int) []byte {
	key := fmt.Sprint(mime, size)
	if v, ok := benchInputs.Load(key); ok {
		return v.([]byte)
	}
	bpp := 0.85 // bytes per pixel of noise: JPEG at quality 90 (4:2:0), PNG
	if mime == TypePNG {
		bpp = 3.0
	}
	side := int(math.Sqrt(float64(size) / bpp))
	img := testImage(side*4/3, side*3/4, true)
	var data []byte
	if mime == TypeJPEG {
		exif := append([]byte(exifHeader), orientationTIFF(6)...)
		data = withSegments(encodeJPEG(b, img, 90), segment{mAPP1, exif}, segment{mAPP1, append([]byte("http://ns.adobe.com/xap/1.0/\x00"), bytes.Repeat([]byte("x"), 4000)...)})
	} else {
		data = withChunks(encodePNG(b, img), chunk{"tEXt", []byte("Comment\x00a comment")})
	}
	benchInputs.Store(key, data)
	return data
}

var benchSizes = []struct {
	name string
	size int
}{{"1MiB", 1 << 20}, {"20MiB", 20 << 20}}

// BenchmarkStrip measures metadata stripping, the cost every JPEG and PNG
// upload pays once.
func BenchmarkStrip(b *testing.B) {
	for _, mime := range []string{TypeJPEG, TypePNG} {
		for _, s := range benchSizes {
			b.Run(fmt.Sprintf("%s/%s", mime[6:], s.name), func(b *testing.B) {
				in := benchImage(b, mime, s.size)
				strip := StripJPEG
				if mime == TypePNG {
					strip = StripPNG
				}
				b.SetBytes(int64(len(in)))
				b.ResetTimer()
				for b.Loop() {
					if _, err := strip(io.Discard, bytes.NewReader(in)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkThumbnail measures making a thumbnail, decoding included, and
// reports the image's megapixels and the heap it allocated.
func BenchmarkThumbnail(b *testing.B) {
	th := NewThumbnailer()
	for _, mime := range []string{TypeJPEG, TypePNG} {
		for _, s := range benchSizes {
			b.Run(fmt.Sprintf("%s/%s", mime[6:], s.name), func(b *testing.B) {
				benchThumb(b, th, benchImage(b, mime, s.size), mime)
			})
		}
	}
	// A smooth picture at the pixel cap: the slowest thumbnail accepted.
	b.Run("jpeg/40MP", func(b *testing.B) {
		key := "cap"
		v, ok := benchInputs.Load(key)
		if !ok {
			v = encodeJPEG(b, testImage(7744, 5164, false), 90)
			benchInputs.Store(key, v)
		}
		benchThumb(b, th, v.([]byte), TypeJPEG)
	})
}

func benchThumb(b *testing.B, th *Thumbnailer, in []byte, mime string) {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(in))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := th.Make(bytes.NewReader(in), mime); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cfg.Width*cfg.Height)/1e6, "Mpx")
}
