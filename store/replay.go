package store

import "github.com/oklog/ulid/v2"

// Replay is one page of a stream's catch-up, read from one snapshot of the
// log: the records after a cursor, and the gaps retention left after it.
type Replay struct {
	// Records are what ReadAfter would return, in ascending id order.
	Records []Record
	// Gaps name each room whose retention deleted events after the
	// cursor, in the order the rooms were asked for.
	Gaps []Gap
}

// Gap says that retention deleted events of Room after the cursor a read
// asked for: every event of Room up to Pruned is gone.
type Gap struct {
	Room string
	// Pruned is the newest event of Room that retention deleted.
	Pruned ulid.ULID
	// Oldest is the oldest event Room still has (zero: none).
	Oldest ulid.ULID
}
