package media

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"runtime"
	"testing"
)

// TestThumbnailBomb: a 20,000 × 20,000 PNG (400 MB once decoded) is
// refused from its header, allocating next to nothing.
func TestThumbnailBomb(t *testing.T) {
	bomb := mustRead(t, "bomb.png")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := NewThumbnailer().Make(bytes.NewReader(bomb), TypePNG)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooManyPixels) {
		t.Fatalf("got %v, want ErrTooManyPixels", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("allocated %d bytes to refuse it, want under 4 MiB", alloc)
	}
}

// TestThumbnailFormats makes thumbnails of each input format and checks
// their size, type, bound and that they are upright.
func TestThumbnailFormats(t *testing.T) {
	big := testImage(1200, 800, false)
	withAlpha := image.NewNRGBA(image.Rect(0, 0, 400, 400))
	for i := range withAlpha.Pix {
		withAlpha.Pix[i] = uint8(i)
	}
	var g bytes.Buffer
	pal := image.NewPaletted(image.Rect(0, 0, 100, 50), []color.Color{color.Black, color.White})
	if err := gif.EncodeAll(&g, &gif.GIF{Image: []*image.Paletted{pal, pal}, Delay: []int{10, 10}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		in         []byte
		mime       string
		wantW      int
		wantH      int
		wantType   string
		redCorner  image.Point // where the red top-left square must end up, -1 for none
		uprightRed bool
	}{
		{"jpeg landscape", encodeJPEG(t, big, 90), TypeJPEG, 320, 213, TypeJPEG, image.Pt(0, 0), true},
		{"png portrait", encodePNG(t, testImage(300, 600, false)), TypePNG, 160, 320, TypeJPEG, image.Pt(0, 0), true},
		{"small png not enlarged", encodePNG(t, testImage(40, 20, false)), TypePNG, 40, 20, TypeJPEG, image.Pt(0, 0), true},
		{"png with alpha stays png", encodePNG(t, withAlpha), TypePNG, 320, 320, TypePNG, image.Pt(-1, -1), false},
		{"gif first frame", g.Bytes(), TypeGIF, 100, 50, TypeJPEG, image.Pt(-1, -1), false},
		{"jpeg rotated 90° by EXIF", mustRead(t, "gps.jpg"), TypeJPEG, 64, 96, TypeJPEG, image.Pt(63, 0), true},
		{"png rotated 180° by EXIF", mustRead(t, "gps.png"), TypePNG, 96, 64, TypeJPEG, image.Pt(95, 63), true},
	}
	th := NewThumbnailer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := th.Make(bytes.NewReader(tt.in), tt.mime)
			if err != nil {
				t.Fatal(err)
			}
			if got.Width != tt.wantW || got.Height != tt.wantH || got.Type != tt.wantType {
				t.Fatalf("got %d×%d %s, want %d×%d %s", got.Width, got.Height, got.Type, tt.wantW, tt.wantH, tt.wantType)
			}
			if len(got.Data) > th.MaxBytes || Sniff(got.Data) != got.Type {
				t.Errorf("%d bytes sniffing as %s", len(got.Data), Sniff(got.Data))
			}
			img := decodePixels(t, got.Data)
			if img.Rect.Dx() != tt.wantW || img.Rect.Dy() != tt.wantH {
				t.Errorf("decodes to %v", img.Rect)
			}
			if tt.uprightRed {
				c := img.RGBAAt(tt.redCorner.X, tt.redCorner.Y)
				if c.R < 200 || c.G > 60 || c.B > 60 {
					t.Errorf("pixel at %v is %v, want the red corner there", tt.redCorner, c)
				}
			}
		})
	}
}

// TestThumbnailOrientations checks all eight EXIF orientations against
// where each moves the top-left pixel of a 4×2 image.
func TestThumbnailOrientations(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 4, 2))
	src.SetRGBA(0, 0, color.RGBA{255, 0, 0, 255})
	want := map[Orientation]image.Point{
		1: {0, 0}, 2: {3, 0}, 3: {3, 1}, 4: {0, 1},
		5: {0, 0}, 6: {1, 0}, 7: {1, 3}, 8: {0, 3},
	}
	for o, p := range want {
		got := orient(src, o)
		if got.RGBAAt(p.X, p.Y).R != 255 {
			t.Errorf("orientation %d: red pixel not at %v", o, p)
		}
		if o >= 5 && got.Rect.Dx() != 2 {
			t.Errorf("orientation %d: %v, want the axes swapped", o, got.Rect)
		}
	}
}

func TestThumbnailRefuses(t *testing.T) {
	tests := []struct {
		name, mime string
		in         []byte
		err        error
	}{
		{"svg", TypeSVG, mustRead(t, "script.svg"), ErrNoThumbnail},
		{"pdf", TypePDF, []byte("%PDF-1.4"), ErrNoThumbnail},
		{"truncated png", TypePNG, encodePNG(t, testImage(64, 64, false))[:80], ErrMalformed},
		{"jpeg that is not", TypeJPEG, []byte("\xff\xd8\xff\xe0nothing"), ErrMalformed},
		{"jpeg over the pixel cap", TypeJPEG, encodeJPEG(t, testImage(700, 600, false), 50), ErrTooManyPixels},
	}
	th := NewThumbnailer()
	th.MaxPixels = 400_000
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := th.Make(bytes.NewReader(tt.in), tt.mime); !errors.Is(err, tt.err) {
				t.Errorf("got %v, want %v", err, tt.err)
			}
		})
	}
	t.Run("no encoding fits", func(t *testing.T) {
		small := *th
		small.MaxBytes = 100
		if _, err := small.Make(bytes.NewReader(encodePNG(t, testImage(300, 300, true))), TypePNG); !errors.Is(err, ErrNoThumbnail) {
			t.Errorf("got %v, want ErrNoThumbnail", err)
		}
	})
}

// FuzzThumbnail: any input, of any of the four types, gives a thumbnail
// within bounds or an error; never a panic, never more than the cap.
func FuzzThumbnail(f *testing.F) {
	f.Add(encodePNG(f, testImage(8, 8, false)))
	f.Add(encodeJPEG(f, testImage(8, 8, false), 50))
	f.Add(mustRead(f, "gps.jpg"))
	f.Add([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"))
	f.Add([]byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"))
	th := NewThumbnailer()
	th.MaxPixels = 1 << 20 // keep the fuzzer's memory small
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, mime := range []string{TypeJPEG, TypePNG, TypeGIF, TypeWebP} {
			got, err := th.Make(bytes.NewReader(in), mime)
			if err != nil {
				continue
			}
			if got.Width < 1 || got.Height < 1 || got.Width > th.Size || got.Height > th.Size || len(got.Data) > th.MaxBytes {
				t.Fatalf("%s: thumbnail %d×%d of %d bytes", mime, got.Width, got.Height, len(got.Data))
			}
		}
	})
}

// TestScaleHalving: a large JPEG-like image, whatever its chroma
// subsampling and odd size, scales through the halving fast path to about
// the same pixels as the filter alone gives from its RGBA form.
func TestScaleHalving(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	}
	src := testImage(701, 453, false) // halved twice, odd sizes
	th := NewThumbnailer()
	th.Size = 80
	for _, ratio := range ratios {
		t.Run(ratio.String(), func(t *testing.T) {
			y := image.NewYCbCr(src.Rect, ratio)
			for py := 0; py < src.Rect.Dy(); py++ {
				for px := 0; px < src.Rect.Dx(); px++ {
					c := src.RGBAAt(px, py)
					yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
					y.Y[y.YOffset(px, py)] = yy
					y.Cb[y.COffset(px, py)] = cb
					y.Cr[y.COffset(px, py)] = cr
				}
			}
			rgba := image.NewRGBA(y.Rect)
			for py := 0; py < y.Rect.Dy(); py++ {
				for px := 0; px < y.Rect.Dx(); px++ {
					rgba.Set(px, py, y.At(px, py))
				}
			}
			fast, slow := th.scale(y), th.scale(rgba)
			if fast.Rect != slow.Rect {
				t.Fatalf("sizes %v and %v", fast.Rect, slow.Rect)
			}
			var diff int
			for i := range fast.Pix {
				diff += max(int(fast.Pix[i])-int(slow.Pix[i]), int(slow.Pix[i])-int(fast.Pix[i]))
			}
			if mean := float64(diff) / float64(len(fast.Pix)); mean > 2 {
				t.Errorf("mean difference %.2f per channel, want at most 2", mean)
			}
		})
	}
}
