// The testscript suite: scripts in testdata/*.txt run kmsctl against an
// in-process fake service and check its output and exit statuses.

package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// The scripts in testdata/*.txt run the kmsctl binary (this test binary
// under another name) against a fake service whose address is in
// $KMS_ENDPOINT. Besides kmsctl they may run
//
//	exec status N kmsctl ARGS...
//
// which succeeds only if kmsctl exits with status N, passing its output
// through for stdout/stderr checks. $WORK/ct.bin holds a well-framed
// ciphertext and $CIPHERTEXT its base64.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"kmsctl": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		"status": statusMain,
	})
}

// statusMain is "status N kmsctl ARGS...".
func statusMain() {
	if len(os.Args) < 3 || os.Args[2] != "kmsctl" {
		fmt.Fprintln(os.Stderr, "usage: status N kmsctl ARGS...")
		os.Exit(2)
	}
	want, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "status: bad exit status", os.Args[1])
		os.Exit(2)
	}
	if got := run(context.Background(), os.Args[3:], os.Stdin, os.Stdout, os.Stderr); got != want {
		fmt.Fprintf(os.Stderr, "status: kmsctl exited %d, want %d\n", got, want)
		os.Exit(1)
	}
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			_, addr, stop, err := serveFake()
			if err != nil {
				return err
			}
			env.Defer(stop)
			env.Setenv("KMS_ENDPOINT", addr)
			ct := fakeCiphertext()
			env.Setenv("CIPHERTEXT", base64.StdEncoding.EncodeToString(ct))
			return os.WriteFile(filepath.Join(env.WorkDir, "ct.bin"), ct, 0o600)
		},
	})
}
