package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	if err := rootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, errorLine(err))
		os.Exit(exitStatus(err))
	}
}

// rootCmd is the whole command tree; tests run it as main does.
func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "cairn",
		Short:         "Cairn: a sharded, replicated, strongly consistent key-value store",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().String("log-format", "", "log format: text or json (default: text on a terminal, else json)")
	root.AddCommand(serverCmd(), devCmd(), kvCmd(), benchCmd(), checkCmd(), adminCmd(), certCmd())
	return root
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

// exitStatus is the process's exit status for a command's error: 2 for a
// usage error, an exitError's own code, else 1.
func exitStatus(err error) int {
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	case errors.As(err, &ee):
		return ee.code
	}
	return 1
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

// newLogger follows --log-level and --log-format; logs go to stderr.
func newLogger(cmd *cobra.Command) (*slog.Logger, error) {
	levelName, _ := cmd.Flags().GetString("log-level")
	format, _ := cmd.Flags().GetString("log-format")
	var level slog.Level
	if err := level.UnmarshalText([]byte(levelName)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", levelName)}
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "":
		if isTerminal(os.Stderr) {
			return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
		}
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want text or json", format)}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
