package store

import (
	"strings"
	"unicode"
)

// checkName fails with ErrInvalid, naming field, if s holds a character no
// name may: a control character.
func checkName(field, s string) error {
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return invalid(field, "contains control characters")
	}
	return nil
}
