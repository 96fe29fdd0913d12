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

// maxPasswordLine bounds the line read as a password.
const maxPasswordLine = 4096

// passwordStdinFlag adds -password-stdin. A password is never a
// command-line argument: those show in ps and shell history.
func passwordStdinFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("password-stdin", false, "read the password from the first line of stdin (default: prompt on the terminal)")
}

// readPassword reads a password: the first line of stdin with
// -password-stdin, or typed without echo after a prompt on stderr if stdin
// is a terminal.
func (m *Main) readPassword(fromStdin bool, prompt string) (string, error) {
	if !fromStdin {
		f, ok := m.Stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", errors.New("stdin is not a terminal: pass -password-stdin to read the password from it")
		}
		fmt.Fprint(m.Stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(m.Stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if len(b) == 0 {
			return "", errors.New("read password: got an empty line")
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(io.LimitReader(m.Stdin, maxPasswordLine)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	switch {
	case line == "":
		return "", errors.New("read password: stdin is empty")
	case pw == "":
		return "", errors.New("read password: got an empty line")
	}
	return pw, nil
}
