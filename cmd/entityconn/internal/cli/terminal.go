package cli

import (
	"io"
	"os"
)

// IsTerminal reports whether w is a terminal, where a progress bar may redraw itself; a
// pipe or a file gets no bar.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
