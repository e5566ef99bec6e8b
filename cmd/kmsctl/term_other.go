//go:build !linux

package main

import "os"

// isTerminal reports whether f is a character device, the best guess
// for a terminal without a system call.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
