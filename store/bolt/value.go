package bolt

import (
	"fmt"

	"github.com/oklog/ulid/v2"

	"github.com/parleychat/parley/store"
)

// assemble returns the stored value of an event of type typ with its id
// (see encodeValue), and its JSON, which aliases the end of value: one
// allocation for both.
func assemble(p store.EncodedEvent, typ string, id ulid.ULID) (value, js []byte) {
	// One spare byte: the API appends a newline to an answer's JSON.
	b := make([]byte, 0, 2+len(typ)+p.Len())
	b = append(b, byte(len(typ)))
	b = append(b, typ...)
	start := len(b)
	b = p.AppendJSON(b, id)
	return b, b[start:]
}

// encodeValue lays a record out as stored in bbolt: a length-prefixed type,
// then the event JSON.
func encodeValue(typ string, js []byte) []byte {
	v := make([]byte, 0, 1+len(typ)+len(js))
	v = append(v, byte(len(typ)))
	v = append(v, typ...)
	return append(v, js...)
}

// decodeValue splits a stored value into its type and JSON. The JSON aliases
// v: copy it before the transaction ends.
func decodeValue(v []byte) (typ string, js []byte, err error) {
	if len(v) == 0 || int(v[0])+1 > len(v) {
		return "", nil, fmt.Errorf("corrupt record of %d bytes", len(v))
	}
	n := int(v[0])
	return internType(v[1 : 1+n]), v[1+n:], nil
}

// internType avoids an allocation per record for the known types.
func internType(b []byte) string {
	switch string(b) {
	case store.TypeMessage:
		return store.TypeMessage
	case store.TypeEdit:
		return store.TypeEdit
	case store.TypeDelete:
		return store.TypeDelete
	case store.TypeReaction:
		return store.TypeReaction
	}
	return string(b)
}
