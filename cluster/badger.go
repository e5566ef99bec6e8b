package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// badgerOptions tunes Badger for raft's log: small memory, and every write
// fsynced before it returns. Entries stay below the value threshold, so
// they live in the LSM tree and need no value-log garbage collection.
func badgerOptions(dir string, log *slog.Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(badgerLogger{log}).
		WithMemTableSize(8 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithValueLogFileSize(64 << 20).
		// Check every table and block against its checksum when read, so
		// a damaged file is found (and kmsd refuses to start on it) rather
		// than served.
		WithChecksumVerificationMode(options.OnTableAndBlockRead).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithMetricsEnabled(false)
}

// badgerLogger passes Badger's warnings and errors to slog and drops the rest.
type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, args ...any)   { l.logf(slog.LevelError, f, args) }
func (l badgerLogger) Warningf(f string, args ...any) { l.logf(slog.LevelWarn, f, args) }
func (badgerLogger) Infof(string, ...any)             {}
func (badgerLogger) Debugf(string, ...any)            {}

func (l badgerLogger) logf(level slog.Level, f string, args []any) {
	msg := strings.TrimSpace(fmt.Sprintf(f, args...))
	l.log.Log(context.Background(), level, msg, "component", "badger")
}
