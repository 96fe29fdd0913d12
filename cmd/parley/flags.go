package main

import (
	"flag"
	"fmt"
	"strings"
)

// newFlagSet returns a flag set for a command that prints to m's stderr.
func (m *Main) newFlagSet(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(m.Stderr, "Usage: parley %s [flags] %s\n\nFlags (each also PARLEY_<FLAG> in the environment):\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse applies PARLEY_<FLAG> environment variables, then the command line,
// which wins.
func (m *Main) parse(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "PARLEY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := m.Getenv(env); v != "" && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %v", env, v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}
