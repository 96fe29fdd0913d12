package media

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestProcess(t *testing.T) {
	gps := mustRead(t, "gps.jpg")
	var stripped bytes.Buffer
	if _, err := StripJPEG(&stripped, bytes.NewReader(gps)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		p        Processor
		in       []byte
		wantType string
		want     []byte // what is stored
		err      error
	}{
		{"jpeg stripped", Processor{MaxBytes: 1 << 20}, gps, TypeJPEG, stripped.Bytes(), nil},
		{"jpeg kept", Processor{MaxBytes: 1 << 20, KeepMetadata: true}, gps, TypeJPEG, gps, nil},
		{"html as it is", Processor{MaxBytes: 1 << 20}, mustRead(t, "hostile.html"), TypeHTML, mustRead(t, "hostile.html"), nil},
		{"exactly the limit", Processor{MaxBytes: 600}, bytes.Repeat([]byte{0}, 600), TypeBinary, bytes.Repeat([]byte{0}, 600), nil},
		{"one byte over", Processor{MaxBytes: 600}, bytes.Repeat([]byte{0}, 601), "", nil, ErrTooLarge},
		{"over, while stripping", Processor{MaxBytes: 1000}, gps, "", nil, ErrTooLarge},
		{"a short file", Processor{MaxBytes: 10}, []byte("hi"), "text/plain; charset=utf-8", []byte("hi"), nil},
		{"a damaged png", Processor{MaxBytes: 1 << 20}, []byte("\x89PNG\r\n\x1a\nshort"), "", nil, ErrMalformed},
		{"a damaged png, kept as it is", Processor{MaxBytes: 1 << 20, KeepMetadata: true}, []byte("\x89PNG\r\n\x1a\nshort"), TypePNG, []byte("\x89PNG\r\n\x1a\nshort"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			// One byte per read: the limit and the sniffing must not
			// depend on how the body arrives.
			up, err := tt.p.Process(&out, iotest.OneByteReader(bytes.NewReader(tt.in)))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if up.Type != tt.wantType || !bytes.Equal(out.Bytes(), tt.want) {
				t.Errorf("got %q, %d bytes; want %q, %d bytes", up.Type, out.Len(), tt.wantType, len(tt.want))
			}
			if up.Size != int64(len(tt.want)) || up.Sum != Sum(sha256.Sum256(tt.want)) {
				t.Errorf("size %d sum %s, not those of the bytes written", up.Size, up.Sum)
			}
		})
	}
}

// TestProcessStopsReading: an upload over the limit is refused without
// reading the rest of it.
func TestProcessStopsReading(t *testing.T) {
	src := &countReader{r: io.MultiReader(strings.NewReader("text "), zeros{})}
	_, err := (&Processor{MaxBytes: 1 << 20}).Process(io.Discard, src)
	if !errors.Is(err, ErrTooLarge) || src.n > 2<<20 {
		t.Fatalf("got %v after reading %d bytes; want ErrTooLarge after about 1 MiB", err, src.n)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestProcessNoSum: with NoSum, the same bytes are written and counted,
// and no hash is computed.
func TestProcessNoSum(t *testing.T) {
	orig := mustRead(t, "gps.jpg")
	var a, b bytes.Buffer
	up, err := (&Processor{MaxBytes: 1 << 20}).Process(&a, bytes.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	quick, err := (&Processor{MaxBytes: 1 << 20, NoSum: true}).Process(&b, bytes.NewReader(orig))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || quick.Size != up.Size || quick.Size != int64(b.Len()) || quick.Sum != (Sum{}) || quick.Type != up.Type {
		t.Fatalf("NoSum: got %+v, want %+v without the sum", quick, up)
	}
}
