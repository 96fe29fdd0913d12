package storetest

import (
	"testing"

	"github.com/parleychat/parley/store"
)

// TestFakeConformance: the fake keeps the contract it stands in for, with
// nothing but the rules package store exports.
func TestFakeConformance(t *testing.T) {
	Run(t, func(tb testing.TB, opt Options) store.Store {
		return OpenFake(tb, func(f *Fake) {
			if opt.MaxTextBytes > 0 {
				f.MaxTextBytes = opt.MaxTextBytes
			}
			if opt.Now != nil {
				f.Now = opt.Now
			}
			f.Retention, f.PruneEvery = opt.Retention, opt.PruneEvery
		})
	})
}

// TestFakeFiles: the fake keeps the contract of store.Files.
func TestFakeFiles(t *testing.T) {
	RunFiles(t, func(tb testing.TB, opt Options) FileStore {
		return OpenFake(tb, func(f *Fake) {
			if opt.Now != nil {
				f.Now = opt.Now
			}
			f.Retention, f.PruneEvery = opt.Retention, opt.PruneEvery
		})
	})
}
