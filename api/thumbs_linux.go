//go:build linux

package api

import (
	"runtime"
	"syscall"
)

// thumbNice is the nice value of thumbnail workers' threads: the lowest
// priority, so that decoding images takes only the CPU that text does not
// want (docs/files.md, "Thumbnails").
const thumbNice = 19

// lowerThreadPriority puts the calling goroutine, for the rest of its life,
// on an OS thread of its own at nice thumbNice. The thread is never
// unlocked: it ends with the goroutine instead of going back to the
// runtime's pool, so no other goroutine ever runs at that priority. On
// Linux the nice value is the thread's, not the process's (setpriority(2)).
func lowerThreadPriority() error {
	runtime.LockOSThread()
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), thumbNice)
}
