package media

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Thumbnailer makes the small images shown in place of a picture in the
// chat. Set its fields before use; they are only read. A Thumbnailer is
// safe for concurrent use, but each call decodes a whole image: callers
// bound how many run at once.
type Thumbnailer struct {
	// MaxPixels caps width × height of an image to decode, as its header
	// declares it, checked before any pixel is decoded: decoding costs up
	// to about 16 bytes per pixel (a progressive JPEG's coefficients and
	// the image), so 40 megapixels may take 640 MiB for a moment.
	MaxPixels int64
	// Size is the side of the square a thumbnail fits in, in pixels.
	// Images smaller than that are not enlarged.
	Size int
	// MaxBytes bounds an encoded thumbnail.
	MaxBytes int
	// Quality is the JPEG quality of opaque thumbnails (1–100).
	Quality int
}

// NewThumbnailer returns a Thumbnailer with Parley's defaults: 40
// megapixels, 320 pixels, 256 KiB, quality 80.
func NewThumbnailer() *Thumbnailer {
	return &Thumbnailer{MaxPixels: 40_000_000, Size: 320, MaxBytes: 256 << 10, Quality: 80}
}

// Thumb is an encoded thumbnail.
type Thumb struct {
	Data          []byte
	Type          string // TypeJPEG or TypePNG (images with transparency)
	Width, Height int    // upright, after the EXIF orientation
}

// decoders are the formats thumbnails are made of, chosen by sniffed type
// (never through image.Decode's registry, which any imported package can
// extend).
var decoders = map[string]struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}{
	TypeJPEG: {jpeg.DecodeConfig, jpeg.Decode},
	TypePNG:  {png.DecodeConfig, png.Decode},
	TypeGIF:  {gif.DecodeConfig, gif.Decode}, // the first frame
	TypeWebP: {webp.DecodeConfig, webp.Decode},
}

// Thumbnailable reports whether Make makes thumbnails of type mime.
func Thumbnailable(mime string) bool {
	_, ok := decoders[mime]
	return ok
}

// Make returns a thumbnail of the image in src, of sniffed type mime (see
// Thumbnailable), turned upright by its EXIF orientation. It reads the
// header first and refuses with ErrTooManyPixels an image larger than
// MaxPixels before decoding anything. Errors: ErrNoThumbnail for another
// type or when no encoding fits in MaxBytes; ErrMalformed when the image
// does not decode.
func (t *Thumbnailer) Make(src io.ReadSeeker, mime string) (th Thumb, err error) {
	dec, ok := decoders[mime]
	if !ok {
		return Thumb{}, ErrNoThumbnail
	}
	cfg, err := dec.config(src)
	if err != nil {
		return Thumb{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Thumb{}, fmt.Errorf("%w: %d×%d pixels", ErrMalformed, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > t.MaxPixels {
		return Thumb{}, fmt.Errorf("%w: %d×%d is more than %d", ErrTooManyPixels, cfg.Width, cfg.Height, t.MaxPixels)
	}
	var o Orientation
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return Thumb{}, err
	}
	switch mime {
	case TypeJPEG:
		o = jpegOrientation(src)
	case TypePNG:
		o = pngOrientation(src)
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return Thumb{}, err
	}
	defer func() {
		// The decoders are meant never to panic on bad input; should one,
		// a bad upload must not take the server down.
		if r := recover(); r != nil {
			th, err = Thumb{}, fmt.Errorf("%w: decoder panic: %v", ErrMalformed, r)
		}
	}()
	img, err := dec.decode(src)
	if err != nil {
		return Thumb{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return t.encode(orient(t.scale(img), o))
}

// scale returns img fitted into a Size × Size square (never enlarged).
func (t *Thumbnailer) scale(img image.Image) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if w > t.Size || h > t.Size {
		if w >= h {
			w, h = t.Size, max(1, h*t.Size/w)
		} else {
			w, h = max(1, w*t.Size/h), t.Size
		}
	}
	// Halve a JPEG's planes by averaging while it stays at least twice
	// the thumbnail: the filter below costs in proportion to the source.
	if y, ok := img.(*image.YCbCr); ok {
		for y.Rect.Dx() >= 4*w && y.Rect.Dy() >= 4*h {
			y = halve(y)
		}
		img, b = y, y.Rect
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, dst.Rect, img, b, draw.Src, nil)
	return dst
}

// halve returns src at half its width and height, each sample the average
// of the (up to) four it replaces, plane by plane.
func halve(src *image.YCbCr) *image.YCbCr {
	r := src.Rect
	dst := image.NewYCbCr(image.Rect(0, 0, r.Dx()/2, r.Dy()/2), src.SubsampleRatio)
	halvePlane(dst.Y, dst.YStride, dst.Rect.Dx(), dst.Rect.Dy(), src.Y[src.YOffset(r.Min.X, r.Min.Y):], src.YStride, r.Dx(), r.Dy())
	cw, ch := chromaSize(dst)
	scw, sch := chromaSize(src)
	at := src.COffset(r.Min.X, r.Min.Y)
	halvePlane(dst.Cb, dst.CStride, cw, ch, src.Cb[at:], src.CStride, scw, sch)
	halvePlane(dst.Cr, dst.CStride, cw, ch, src.Cr[at:], src.CStride, scw, sch)
	return dst
}

// chromaSize returns the size of an image's chroma planes.
func chromaSize(m *image.YCbCr) (w, h int) {
	w, h = m.Rect.Dx(), m.Rect.Dy()
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422:
		w = (w + 1) / 2
	case image.YCbCrSubsampleRatio420:
		w, h = (w+1)/2, (h+1)/2
	case image.YCbCrSubsampleRatio440:
		h = (h + 1) / 2
	case image.YCbCrSubsampleRatio411:
		w = (w + 3) / 4
	case image.YCbCrSubsampleRatio410:
		w, h = (w+3)/4, (h+1)/2
	}
	return w, h
}

// halvePlane fills the w × h plane dst with 2×2 averages of the sw × sh
// plane src, repeating src's last row and column where it runs out.
func halvePlane(dst []byte, stride, w, h int, src []byte, sstride, sw, sh int) {
	for y := 0; y < h; y++ {
		y0, y1 := min(2*y, sh-1), min(2*y+1, sh-1)
		r0, r1 := src[y0*sstride:], src[y1*sstride:]
		out := dst[y*stride:]
		for x := 0; x < w; x++ {
			x0, x1 := min(2*x, sw-1), min(2*x+1, sw-1)
			out[x] = byte((int(r0[x0]) + int(r0[x1]) + int(r1[x0]) + int(r1[x1]) + 2) / 4)
		}
	}
}

// encode encodes img as JPEG if it is opaque, else as PNG, falling back to
// JPEG on white and then to a lower quality to stay within MaxBytes.
func (t *Thumbnailer) encode(img *image.RGBA) (Thumb, error) {
	th := Thumb{Width: img.Rect.Dx(), Height: img.Rect.Dy()}
	var buf bytes.Buffer
	if !img.Opaque() {
		if err := png.Encode(&buf, img); err != nil {
			return Thumb{}, err
		}
		if buf.Len() <= t.MaxBytes {
			th.Data, th.Type = buf.Bytes(), TypePNG
			return th, nil
		}
		flat := image.NewRGBA(img.Rect)
		draw.Draw(flat, flat.Rect, image.NewUniform(color.White), image.Point{}, draw.Src)
		draw.Draw(flat, flat.Rect, img, image.Point{}, draw.Over)
		img = flat
	}
	for _, q := range []int{t.Quality, min(t.Quality, 50)} {
		buf.Reset()
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
			return Thumb{}, err
		}
		if buf.Len() <= t.MaxBytes {
			th.Data, th.Type = buf.Bytes(), TypeJPEG
			return th, nil
		}
	}
	return Thumb{}, fmt.Errorf("%w: %d bytes is more than %d", ErrNoThumbnail, buf.Len(), t.MaxBytes)
}

// orient returns img turned upright by orientation o: the EXIF orientations
// 2–8 are mirrorings and quarter turns of the stored pixels.
func orient(img *image.RGBA, o Orientation) *image.RGBA {
	if o < 2 || o > 8 {
		return img
	}
	w, h := img.Rect.Dx(), img.Rect.Dy()
	dw, dh := w, h
	if o >= 5 { // 5–8 swap the axes
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			dst.SetRGBA(dx, dy, img.RGBAAt(x, y))
		}
	}
	return dst
}
