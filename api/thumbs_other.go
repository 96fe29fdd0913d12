//go:build !linux

package api

// lowerThreadPriority does nothing where the nice value is the process's.
func lowerThreadPriority() error { return nil }
