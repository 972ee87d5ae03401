package cli

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses a duration as time.ParseDuration does ("168h", "90m", "1h30m",
// "0"). Its error says what a duration looks like, and for a number of days ("7d", which
// Go's durations do not take) the hours to write instead. It is meant to follow the flag or
// variable it names, as in `ENTITYCONN_PENDING_TTL "7d": ...`.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err == nil {
		return d, nil
	}
	if m := days.FindStringSubmatch(strings.TrimSpace(s)); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n < 1<<20 {
			return 0, fmt.Errorf("not a duration: durations have no day unit; for %d day%s write %dh", n, plural(n), 24*n)
		}
	}
	return 0, errors.New("not a duration: write a number with a unit (h, m, s, ms), such as 168h, 90m, 1h30m or 30s")
}

var days = regexp.MustCompile(`^(\d+)\s*(?:d|days?)$`)

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ParseBool parses true or false as strconv.ParseBool does (also 1, 0, t, f, TRUE, ...),
// with an error in a user's words.
func ParseBool(s string) (bool, error) {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, errors.New("not a boolean: write true or false")
	}
	return b, nil
}

// ParseInt parses a decimal integer, with an error in a user's words.
func ParseInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, errors.New("not a whole number")
	}
	return n, nil
}

// LogLevels names the log levels ParseLevel takes, for usage texts and errors.
const LogLevels = "debug, info, warn or error"

// ParseLevel parses a log level as slog.Level's UnmarshalText does (debug, info, warn,
// error, in any case, with an optional offset such as warn+2); its error lists the levels.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, errors.New("not a log level: use " + LogLevels)
	}
	return l, nil
}

// DurationVar defines a duration flag as fs.DurationVar does, whose error for a bad value
// says what a duration looks like ([ParseDuration]).
func DurationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var((*durationValue)(p), name, usage)
}

type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string { return (*time.Duration)(d).String() }

// BoolVar defines a boolean flag as fs.BoolVar does (--name alone is true), whose error for a
// bad value (--name=maybe) is in a user's words.
func BoolVar(fs *flag.FlagSet, p *bool, name string, value bool, usage string) {
	*p = value
	fs.Var((*boolValue)(p), name, usage)
}

type boolValue bool

func (b *boolValue) Set(s string) error {
	v, err := ParseBool(s)
	if err != nil {
		return err
	}
	*b = boolValue(v)
	return nil
}

func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }

// LevelVar defines a log level flag whose error lists the levels ([ParseLevel]).
func LevelVar(fs *flag.FlagSet, p *slog.Level, name string, value slog.Level, usage string) {
	*p = value
	fs.Var((*levelValue)(p), name, usage)
}

type levelValue slog.Level

func (l *levelValue) Set(s string) error {
	v, err := ParseLevel(s)
	if err != nil {
		return err
	}
	*l = levelValue(v)
	return nil
}

func (l *levelValue) String() string { return strings.ToLower(slog.Level(*l).String()) }
