package jetstream

import "context"

// SetAfterGap has l run fn after it stores a gap record and before it
// removes the sequence from the stream; an error stops that erase. Set it
// before Open.
func SetAfterGap(l *Log, fn func(ctx context.Context, seq uint64) error) { l.afterGap = fn }

// KnownRules is knownRules, for tests.
var KnownRules = knownRules
