// Command parley is a self-hosted persistent chat server and its command-line
// client. Run "parley help" for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	if err := m.Run(ctx, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "parley:", err)
		}
		os.Exit(2)
	}
}

// Main runs one parley command with injected I/O, so tests drive it as the
// binary would run.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

const usage = `Parley: a self-hosted persistent chat server.

Usage:
  parley serve  [-addr 127.0.0.1:8080] [-db parley.db] [-auth on] ...   run the server
  parley send   -room R [-author A] TEXT...                   post a message
  parley tail   -room R [-since ID]                           follow a room as JSON lines
  parley search [-room R] QUERY...                            find messages: room, author, time, text
  parley export (-room R | -all) [-format F] [-since X] [-until Y] [-o FILE|DIR]   download history
  parley import -room R FILE.jsonl                            load an export into a room
  parley backup -o FILE.db                                    hot copy of a running server's db
  parley verify -db FILE.db                                   check a db file (offline)
  parley compact -db FILE.db -o NEW.db                        shrink a stopped server's db
  parley reindex -db FILE.db                                  rebuild a stopped server's search index
  parley drop-future -db FILE.db -o DROPPED.jsonl             remove events dated in the future (offline)
  parley user   add|list|passwd|rm ...                        manage users (-auth on)
  parley token  create|list|revoke ...                        manage access tokens (-auth on)
  parley invite -room R [-expires 168h] [-max-uses N]         print a guest link to one room
  parley room   show|private|public|add|rm|invites|uninvite ... who may use a room (-auth on)
  parley cluster status -cluster nats://HOST:4222,...        the cluster's stream and nodes (cluster mode)

Commands that talk to a server take -server URL and, when it runs with
-auth on, -token TOKEN. Get a first token with
  export PARLEY_TOKEN=$(parley token create -login NAME)
Passwords are never arguments: they are read from stdin with -password-stdin,
or typed at a prompt without echo.

Every flag can also be set from the environment as PARLEY_<FLAG>, for example
PARLEY_ADDR, PARLEY_TOKEN or PARLEY_MAX_MESSAGE_BYTES; a flag on the command
line wins. Run "parley COMMAND -h" for a command's flags.
`

// Run runs the command named by args[0].
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, usage)
		return errors.New("no command given")
	}
	cmds := map[string]func(context.Context, []string) error{
		"serve":       m.serve,
		"send":        m.send,
		"tail":        m.tail,
		"export":      m.export,
		"import":      m.importCmd,
		"backup":      m.backup,
		"verify":      m.verify,
		"compact":     m.compact,
		"search":      m.search,
		"reindex":     m.reindex,
		"drop-future": m.dropFuture,
		"user":        m.user,
		"token":       m.token,
		"invite":      m.invite,
		"room":        m.room,
		"cluster":     m.cluster,
	}
	switch cmd, ok := cmds[args[0]]; {
	case ok:
		return cmd(ctx, args[1:])
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprint(m.Stdout, usage)
		return nil
	default:
		fmt.Fprint(m.Stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// runSub runs the sub-command of cmd named by args[0], one of subs, or
// prints help, which lists them.
func (m *Main) runSub(ctx context.Context, cmd, help string, subs map[string]func(context.Context, []string) error, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(m.Stderr, help)
		return fmt.Errorf("%s needs a sub-command", cmd)
	}
	switch sub, ok := subs[args[0]]; {
	case ok:
		return sub(ctx, args[1:])
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprint(m.Stdout, help)
		return nil
	default:
		fmt.Fprint(m.Stderr, help)
		return fmt.Errorf("unknown sub-command %q of %s", args[0], cmd)
	}
}
