package api

// decodeInputFast decodes the usual shape of a message body without
// encoding/json: one flat object whose values are strings without escapes,
// each key spelled exactly as input's tags and given at most once. For
// anything else it reports false, and encoding/json decodes the body, with
// its own answers and errors. body is valid UTF-8.
func decodeInputFast(body []byte, in *input) bool {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	var seen uint8
	var out input
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		*in = out
		return skipSpace(body, i+1) == len(body)
	}
	for {
		key, j, ok := plainString(body, i)
		if !ok {
			return false
		}
		i = skipSpace(body, j)
		if i >= len(body) || body[i] != ':' {
			return false
		}
		val, j, ok := plainString(body, skipSpace(body, i+1))
		if !ok {
			return false
		}
		var field *string
		var bit uint8
		switch string(key) { // no allocation: the compiler compares in place
		case "author":
			field, bit = &out.Author, 1
		case "text":
			field, bit = &out.Text, 2
		case "client_id":
			field, bit = &out.ClientID, 4
		case "reply_to":
			field, bit = &out.ReplyTo, 8
		case "emoji":
			field, bit = &out.Emoji, 16
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		*field = string(val)
		i = skipSpace(body, j)
		if i >= len(body) {
			return false
		}
		switch body[i] {
		case ',':
			i = skipSpace(body, i+1)
		case '}':
			if skipSpace(body, i+1) != len(body) {
				return false
			}
			*in = out
			return true
		default:
			return false
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a JSON string at i that needs no unescaping: it returns
// its contents and the index after its closing quote, or false if there is
// no string at i or it has escapes or control characters.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, i, false
		}
	}
	return nil, i, false
}
