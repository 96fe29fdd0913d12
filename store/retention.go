package store

import "time"

// Retention says how much of a room's log to keep. Zero fields keep
// everything; both may be set, and an event goes when either says so.
type Retention struct {
	// Events keeps at most the newest this many events.
	Events int `json:"events,omitempty"`
	// For keeps events younger than this.
	For Duration `json:"for,omitempty"`
}

// Duration is a time.Duration that reads and writes as text like "720h".
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Validate reports whether r is usable.
func (r Retention) Validate() error {
	if r.Events < 0 {
		return invalid("events", "must not be negative")
	}
	if r.For < 0 {
		return invalid("for", "must not be negative")
	}
	if r.For > 0 && time.Duration(r.For) < time.Minute {
		return invalid("for", "must be at least a minute")
	}
	return nil
}
