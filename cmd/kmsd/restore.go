package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	"github.com/kmsd/kmsd/server"
)

const restoreUsage = `Usage: kmsd restore --backup FILE --root-key-file PATH --data-dir DIR [--node-id ID] [--raft-addr HOST:PORT]

Restores a backup made with "kmsctl cluster snapshot save" into DIR, a new data
directory (it must not exist or be empty). The backup is checked first: it
must have been made by a cluster with this root key and be unchanged.

Then start kmsd on DIR with the same --node-id and --raft-addr (and no
--peers or --join): it starts a new cluster of one holding the backed-up
keys, aliases and audit log. Add members with --join as usual; they
receive the state from it.
`

// runRestore implements "kmsd restore".
func runRestore(args []string, stdout io.Writer) error {
	def := defaultConfig()
	fs := flag.NewFlagSet("kmsd restore", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), restoreUsage) }
	backup := fs.String("backup", "", "the backup file")
	rootKeyFile := fs.String("root-key-file", "", "the root key file of the cluster that made the backup")
	dataDir := fs.String("data-dir", "", "the new data directory")
	nodeID := fs.String("node-id", def.NodeID, "the node id to start with")
	raftAddr := fs.String("raft-addr", def.RaftAddr, "the Raft address to start with")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *backup == "" || *rootKeyFile == "" || *dataDir == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("restore: --backup, --root-key-file and --data-dir are required")
	}
	root, err := envelope.ReadRootKeyFile(*rootKeyFile)
	if err != nil {
		return fmt.Errorf("restore: root key: %w", err)
	}
	f, err := os.Open(*backup)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	h, snapshot, err := server.OpenBackup(f, root)
	if err != nil {
		return fmt.Errorf("restore: %s: %w", *backup, err)
	}
	if entries, err := os.ReadDir(*dataDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("restore: data dir %s is not empty", *dataDir)
	}
	index, err := restoreInto(*dataDir, root, *nodeID, *raftAddr, snapshot)
	if err == nil && index != h.AppliedIndex {
		err = fmt.Errorf("restore: the backup's state is at index %d, its header says %d", index, h.AppliedIndex)
	}
	if err != nil {
		os.RemoveAll(*dataDir)
		return err
	}
	fmt.Fprintf(stdout, "Restored the backup made by %s at %s (index %d) into %s.\nStart it with: kmsd --data-dir %s --root-key-file %s --node-id %s --raft-addr %s\n",
		h.NodeID, h.CreatedAt.Format("2006-01-02T15:04:05Z07:00"), h.AppliedIndex, *dataDir, *dataDir, *rootKeyFile, *nodeID, *raftAddr)
	return nil
}

func restoreInto(dir string, root envelope.Key, nodeID, raftAddr string, snapshot io.Reader) (uint64, error) {
	if err := prepareDataDir(dir); err != nil {
		return 0, err
	}
	lock, err := lockDataDir(dir)
	if err != nil {
		return 0, err
	}
	defer lock.Close()
	if err := checkRootKey(dir, root); err != nil {
		return 0, err
	}
	store, err := keystore.Open(filepath.Join(dir, "state"), keystore.Options{})
	if err != nil {
		return 0, err
	}
	defer store.Close()
	return cluster.RestoreBackup(cluster.Config{NodeID: nodeID, BindAddr: raftAddr, Dir: filepath.Join(dir, "raft")}, store, snapshot)
}
