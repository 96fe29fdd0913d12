package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// startYardstick starts the no-op server for the all scenario and returns
// its URL and a function that stops it.
//
// By default it runs as a child process (this program's noop scenario), so
// that like Parley it has a Go scheduler and garbage collector of its own:
// in-process, its handlers queue behind the load tool's thousands of
// subscriber goroutines, and on two cores it could not even hold the fanout
// publish rate. mode "inprocess" serves it from this process instead.
func startYardstick(ctx context.Context, mode, addr string) (string, func(), error) {
	switch mode {
	case "inprocess":
		s := NewNoopServer()
		s.Addr = addr
		if err := s.Open(); err != nil {
			return "", nil, err
		}
		return s.URL(), func() { s.Close() }, nil
	case "process":
		return startNoopProcess(ctx, addr)
	}
	return "", nil, fmt.Errorf("noop mode %q: want process or inprocess", mode)
}

// startNoopProcess runs "<this program> noop -addr addr" and reads the URL
// it announces on stderr.
func startNoopProcess(ctx context.Context, addr string) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("start noop: %w", err)
	}
	cmd := exec.Command(exe, "noop", "-child", "-addr", addr)
	stdin, err := cmd.StdinPipe() // held open until stop; the child exits when it closes
	if err != nil {
		return "", nil, fmt.Errorf("start noop: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", nil, fmt.Errorf("start noop: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start noop: %w", err)
	}
	stop := func() {
		stdin.Close()
		done := make(chan struct{})
		go func() {
			cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), "listening on "); ok {
				found <- url
				break
			}
		}
		close(found)
		io.Copy(io.Discard, stderr) // keep the child from blocking on a full pipe
	}()
	select {
	case url, ok := <-found:
		if ok {
			return url, stop, nil
		}
		err = errors.New("start noop: it exited without listening")
	case <-time.After(10 * time.Second):
		err = errors.New("start noop: no listening address within 10s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	stop()
	return "", nil, err
}
