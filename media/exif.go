package media

import "encoding/binary"

// Orientation is the EXIF orientation of an image (TIFF tag 0x0112): how
// its stored pixels must be turned to be shown upright. 1 is upright;
// 2–8 mirror and rotate; 0 means the file says nothing.
type Orientation int

// tagOrientation is the EXIF (TIFF) tag that holds the orientation.
const tagOrientation = 0x0112

// exifHeader precedes the TIFF structure in a JPEG APP1 segment.
const exifHeader = "Exif\x00\x00"

// exifOrientation returns the orientation in a TIFF structure (an EXIF
// block without its JPEG header), or 0 if it has none or is malformed. It
// reads only the first image file directory, and never beyond tiff.
func exifOrientation(tiff []byte) Orientation {
	if len(tiff) < 8 {
		return 0
	}
	var order binary.ByteOrder
	switch string(tiff[:4]) {
	case "II*\x00":
		order = binary.LittleEndian
	case "MM\x00*":
		order = binary.BigEndian
	default:
		return 0
	}
	ifd := uint64(order.Uint32(tiff[4:8]))
	if ifd < 8 || ifd+2 > uint64(len(tiff)) {
		return 0
	}
	n := uint64(order.Uint16(tiff[ifd:]))
	for i := uint64(0); i < n; i++ {
		at := ifd + 2 + 12*i
		if at+12 > uint64(len(tiff)) {
			return 0
		}
		e := tiff[at : at+12]
		if order.Uint16(e[0:]) != tagOrientation {
			continue
		}
		// A SHORT, one value, stored in the first two bytes of the field.
		if order.Uint16(e[2:]) != 3 || order.Uint32(e[4:]) != 1 {
			return 0
		}
		if o := Orientation(order.Uint16(e[8:])); o >= 1 && o <= 8 {
			return o
		}
		return 0
	}
	return 0
}

// orientationTIFF returns the smallest TIFF structure that says
// orientation o and nothing else: what is kept of a stripped image's EXIF.
func orientationTIFF(o Orientation) []byte {
	b := []byte("MM\x00*\x00\x00\x00\x08")  // big endian, first directory at 8
	b = binary.BigEndian.AppendUint16(b, 1) // one entry
	b = binary.BigEndian.AppendUint16(b, tagOrientation)
	b = binary.BigEndian.AppendUint16(b, 3) // SHORT
	b = binary.BigEndian.AppendUint32(b, 1) // one value
	b = binary.BigEndian.AppendUint16(b, uint16(o))
	b = binary.BigEndian.AppendUint16(b, 0)    // padding of the value field
	return binary.BigEndian.AppendUint32(b, 0) // no next directory
}
