// Package cli holds what the subcommands of entityconn share, whichever package they live
// in: parsing their flags and telling whether their progress goes to a terminal.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// ParseFlags parses a subcommand's args into fs and refuses what is not a flag. When the
// subcommand should stop it returns false and its exit code: 0 after -h, 2 after a usage
// error (which fs or ParseFlags has reported on stderr).
func ParseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "entityconn %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return 2, false
	}
	return 0, true
}
