package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// maxPasswordLine bounds each line read as a password.
const maxPasswordLine = 4096

// passwordStdinFlag adds -password-stdin. A password is never a
// command-line argument: those show in ps and shell history.
func passwordStdinFlag(fs *flag.FlagSet) *bool {
	return passwordStdinFlagWith(fs, "read the password from the first line of stdin (default: prompt on the terminal)")
}

// passwordStdinFlagWith is passwordStdinFlag with its own usage, for
// commands that read more than one password.
func passwordStdinFlagWith(fs *flag.FlagSet, usage string) *bool {
	return fs.Bool("password-stdin", false, usage)
}

// readPassword reads a password: the first line of stdin with
// -password-stdin, or typed without echo after a prompt on stderr if stdin
// is a terminal.
func (m *Main) readPassword(fromStdin bool, prompt string) (string, error) {
	pws, err := m.readPasswords(fromStdin, prompt)
	if err != nil {
		return "", err
	}
	return pws[0], nil
}

// readPasswords reads one password for each prompt: a line of stdin each
// with -password-stdin, or typed without echo after each prompt on the
// terminal.
func (m *Main) readPasswords(fromStdin bool, prompts ...string) ([]string, error) {
	if !fromStdin {
		f, ok := m.Stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return nil, errors.New("stdin is not a terminal: pass -password-stdin to read the password from it")
		}
		var pws []string
		for _, prompt := range prompts {
			fmt.Fprint(m.Stderr, prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(m.Stderr)
			if err != nil {
				return nil, fmt.Errorf("read password: %w", err)
			}
			if len(b) == 0 {
				return nil, errors.New("read password: got an empty line")
			}
			pws = append(pws, string(b))
		}
		return pws, nil
	}
	// One reader for every line: a second would miss what the first
	// buffered.
	rd := bufio.NewReader(io.LimitReader(m.Stdin, int64(maxPasswordLine*len(prompts))))
	var pws []string
	for i := range prompts {
		line, err := rd.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("read password: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		switch {
		case line == "" && i == 0:
			return nil, errors.New("read password: stdin is empty")
		case line == "":
			return nil, fmt.Errorf("read password: stdin has %d line(s), want %d", i, len(prompts))
		case pw == "":
			return nil, errors.New("read password: got an empty line")
		}
		pws = append(pws, pw)
	}
	return pws, nil
}
