package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/cairnkv/cairn/internal/admincli"
	"github.com/cairnkv/cairn/internal/buildinfo"
	"github.com/cairnkv/cairn/internal/kvcli"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	if err := rootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, errorLine(err))
		os.Exit(exitStatus(err))
	}
}

// Exit statuses, the same for every subcommand (listed in cairn --help and
// the README). NB: 1 and 2 are what DESIGN.md gives cairn check and cairn
// admin; the others are more specific cases a script can branch on.
const (
	exitOK          = 0
	exitFailed      = 1 // what was checked or asked for failed, or was refused
	exitUsage       = 2 // a bad flag, argument or command (also Ctrl-C of an admin call)
	exitNotFound    = 3 // kv get/del: the key does not exist
	exitUnreachable = 4 // no --endpoints answered
)

const exitHelp = `Exit status, the same for every command:
  0  done
  1  failed: what was checked or asked for failed, or the cluster refused it
  2  usage: a bad flag, argument or command
  3  not found: cairn kv get or del of a key that does not exist
  4  unreachable: none of --endpoints answered
`

// rootCmd is the whole command tree; tests run it as main does.
func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "cairn",
		Short:         "Cairn: a sharded, replicated, strongly consistent key-value store",
		Long:          "Cairn: a sharded, replicated, strongly consistent key-value store.\n\n" + exitHelp,
		Version:       buildinfo.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every command refuses a bad --log-level or --log-format, also
		// those that log nothing yet, so a typo in a script shows at once.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			_, err := logOptions(cmd)
			return err
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().String("log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().String("log-format", "", "log format: text or json (default: text on a terminal, else json)")
	root.AddCommand(serverCmd(), devCmd(), kvCmd(), benchCmd(), checkCmd(), adminCmd(), certCmd(), versionCmd())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	usageArgs(root)
	return root
}

// usageArgs makes every command's argument-count error a usage error
// (exit 2), as a bad flag is.
func usageArgs(c *cobra.Command) {
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			err := args(cmd, a)
			var ue usageError
			if err != nil && !errors.As(err, &ue) {
				return usageError{err}
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// versionCmd is "cairn version": the same line as --version, or with -o
// json the same object as a node's /version.
func versionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print which build of cairn this is",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().StringP("output", "o", "table", "output: table or json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		out, _ := cmd.Flags().GetString("output")
		switch out {
		case "table":
			fmt.Fprintln(cmd.OutOrStdout(), buildinfo.Get())
		case "json":
			b, _ := json.Marshal(buildinfo.Get())
			fmt.Fprintln(cmd.OutOrStdout(), string(b))
		default:
			return usageError{fmt.Errorf("-o %q: want table or json", out)}
		}
		return nil
	}
	return cmd
}

// errorLine is what main prints for a command's error: "cairn: ..." or,
// for a commandError, the command's own path ("cairn admin drain: ...").
func errorLine(err error) string {
	var ce commandError
	if errors.As(err, &ce) {
		return ce.path + ": " + ce.error.Error()
	}
	return "cairn: " + err.Error()
}

type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// commandError is an error printed after the path of the command that
// failed rather than after "cairn", so that a server's refusal reads
// "cairn admin drain: <the server's message>".
type commandError struct {
	path string
	error
}

func (e commandError) Unwrap() error { return e.error }

// exitError ends the process with its code (DESIGN.md: cairn check exits 0
// on a pass, 1 when what it checked failed, 2 on a usage or harness error).
type exitError struct {
	code int
	error
}

// exitStatus is the process's exit status for a command's error (see
// exitHelp).
func exitStatus(err error) int {
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.Is(err, kvcli.ErrUsage), errors.Is(err, admincli.ErrUsage),
		// NB: cobra's own error for an unknown subcommand has no type.
		strings.HasPrefix(err.Error(), "unknown command "):
		return exitUsage
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, kvcli.ErrNotFound):
		return exitNotFound
	case errors.Is(err, kvcli.ErrUnreachable), errors.Is(err, admincli.ErrUnreachable):
		return exitUnreachable
	}
	return exitFailed
}

// applyEnv sets every flag not given on the command line from
// CAIRN_<FLAG> (dashes to underscores) and reports which flags were set
// either way, for "stored settings win unless set explicitly".
func applyEnv(fs *pflag.FlagSet) (map[string]bool, error) {
	explicit := map[string]bool{}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			explicit[f.Name] = true
			return
		}
		env := "CAIRN_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil && err == nil {
				err = usageError{fmt.Errorf("%s=%q: %w", env, v, e)}
			}
			explicit[f.Name] = true
		}
	})
	return explicit, err
}

// logOptions reads --log-level and --log-format (or CAIRN_LOG_LEVEL and
// CAIRN_LOG_FORMAT when the flag is not given) and refuses a value that is
// not one of theirs.
func logOptions(cmd *cobra.Command) (logSetting, error) {
	get := func(name string) string {
		v, _ := cmd.Flags().GetString(name)
		if f := cmd.Flags().Lookup(name); f != nil && !f.Changed {
			if e, ok := os.LookupEnv("CAIRN_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); ok {
				v = e
			}
		}
		return v
	}
	levelName, format := get("log-level"), get("log-format")
	var ls logSetting
	if err := ls.level.UnmarshalText([]byte(levelName)); err != nil {
		return ls, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", levelName)}
	}
	switch format {
	case "", "text", "json":
		ls.format = format
	default:
		return ls, usageError{fmt.Errorf("--log-format %q: want text or json", format)}
	}
	return ls, nil
}

type logSetting struct {
	level  slog.Level
	format string // "", "text" or "json"
}

// newLogger follows --log-level and --log-format; logs go to stderr.
func newLogger(cmd *cobra.Command) (*slog.Logger, error) {
	ls, err := logOptions(cmd)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: ls.level}
	switch ls.format {
	case "":
		if isTerminal(os.Stderr) {
			return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
