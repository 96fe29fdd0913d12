//go:build !linux

package main

import "os"

// fdatasync flushes f (bbolt uses fdatasync only on Linux).
func fdatasync(f *os.File) error { return f.Sync() }
