package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/encrypt"
	"github.com/kmsd/kmsd/envelope"
)

func init() {
	common := []flagSpec{{"in", kindString, true}, {"out", kindString, true},
		{"encryption-context", kindContext, false}, {"grant-tokens", kindList, false}, {"overwrite", kindBool, false}}
	register(
		&command{name: "encrypt-file", op: "GenerateDataKey", usage: encryptFileUsage, untimed: true, run: encryptFile,
			flags: append([]flagSpec{{"key-id", kindString, true}, {"frame-size", kindInt, false}}, common...)},
		&command{name: "decrypt-file", op: "Decrypt", usage: decryptFileUsage, untimed: true, run: decryptFile,
			flags: append([]flagSpec{{"key-id", kindString, false}}, common...)},
	)
}

// fileResult is what encrypt-file and decrypt-file print.
type fileResult struct {
	KeyID             string            `json:"KeyId"`
	InFile            string            `json:"InFile"`
	OutFile           string            `json:"OutFile"`
	Bytes             int64             `json:"Bytes"`
	EncryptionContext map[string]string `json:"EncryptionContext,omitempty"`
}

func encryptFile(ctx context.Context, c *call) (any, error) {
	a := c.args
	opts := []encrypt.Option{encrypt.WithGrantTokens(a.lists["grant-tokens"]...)}
	if a.set["frame-size"] {
		opts = append(opts, encrypt.WithFrameSize(int(a.ints["frame-size"])))
	}
	client, err := encrypt.New(c.client, opts...)
	if err != nil {
		return nil, usagef("--frame-size: %v", err)
	}
	src, out, size, err := openFiles(a)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	defer out.discard()
	ec := a.contexts["encryption-context"]
	w, err := client.NewEncryptingWriter(ctx, out.f, a.strings["key-id"], ec)
	if err != nil {
		return nil, fileError(err)
	}
	p := newProgress(c.stderr, "encrypt-file", size)
	n, err := io.Copy(w, p.reader(ctx, src))
	if err == nil {
		err = w.Close()
	}
	p.finish(err == nil)
	if err != nil {
		return nil, fileError(err)
	}
	if err := out.commit(); err != nil {
		return nil, err
	}
	return fileResult{KeyID: w.KeyID(), InFile: a.strings["in"], OutFile: a.strings["out"], Bytes: n, EncryptionContext: ec}, nil
}

func decryptFile(ctx context.Context, c *call) (any, error) {
	a := c.args
	opts := []encrypt.Option{encrypt.WithGrantTokens(a.lists["grant-tokens"]...)}
	if k := a.strings["key-id"]; k != "" {
		opts = append(opts, encrypt.WithDecryptKey(k))
	}
	client, err := encrypt.New(c.client, opts...)
	if err != nil {
		return nil, err
	}
	src, out, size, err := openFiles(a)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	defer out.discard()
	p := newProgress(c.stderr, "decrypt-file", size)
	r, err := client.NewDecryptingReader(ctx, p.reader(ctx, src), a.contexts["encryption-context"])
	if err != nil {
		p.finish(false)
		return nil, fileError(err)
	}
	n, err := io.Copy(out.f, r)
	p.finish(err == nil)
	if err != nil {
		return nil, fileError(err)
	}
	if err := out.commit(); err != nil {
		return nil, err
	}
	return fileResult{KeyID: r.KeyID(), InFile: a.strings["in"], OutFile: a.strings["out"], Bytes: n,
		EncryptionContext: r.EncryptionContext()}, nil
}

// fileError turns an error of the encrypt package into kmsctl's: a kmsd
// error keeps its status (exit 254), the rest are local (exit 255).
func fileError(err error) error {
	var se interface{ GRPCStatus() *status.Status }
	switch {
	case errors.As(err, &se):
		return se.(error)
	case errors.Is(err, context.Canceled):
		return errInterrupted
	case errors.Is(err, envelope.ErrDecrypt):
		return fmt.Errorf("%w: --in is not a kmsd encrypted file, or it was altered or cut short; nothing was written", errLocal)
	case errors.Is(err, encrypt.ErrContextMismatch):
		return fmt.Errorf("%w: the file's encryption context does not hold the pairs of --encryption-context; nothing was written", errLocal)
	}
	return fmt.Errorf("%w: %v", errLocal, err)
}

// partialFile is the file being written: a temporary file in the directory of
// --out, renamed to --out only by commit, so that a failure leaves nothing
// at --out.
type partialFile struct {
	f         *os.File
	path      string
	overwrite bool
	done      bool
}

// openFiles opens --in and creates the temporary output file. It refuses
// an existing --out unless --overwrite, and --out naming --in.
func openFiles(a *parsedArgs) (*os.File, *partialFile, int64, error) {
	in, out := a.strings["in"], a.strings["out"]
	src, err := os.Open(in)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("%w: --in: %v", errLocal, err)
	}
	fi, err := src.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", in)
	}
	if err == nil {
		if ofi, oerr := os.Stat(out); oerr == nil && os.SameFile(fi, ofi) {
			err = fmt.Errorf("--out is the same file as --in")
		} else if oerr == nil && !a.bools["overwrite"] {
			err = fmt.Errorf("--out %s exists (give --overwrite to replace it)", out)
		}
	}
	if err != nil {
		src.Close()
		return nil, nil, 0, fmt.Errorf("%w: %v", errLocal, err)
	}
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".partial-*")
	if err != nil {
		src.Close()
		return nil, nil, 0, fmt.Errorf("%w: --out: %v", errLocal, err)
	}
	return src, &partialFile{f: f, path: out, overwrite: a.bools["overwrite"]}, fi.Size(), nil
}

// commit makes the output durable and puts it at --out: a rename with
// --overwrite, else a link that fails if --out appeared meanwhile.
func (o *partialFile) commit() error {
	err := o.f.Sync()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil && o.overwrite {
		err = os.Rename(o.f.Name(), o.path)
	} else if err == nil {
		if err = os.Link(o.f.Name(), o.path); err == nil {
			os.Remove(o.f.Name())
		}
	}
	if err != nil {
		return fmt.Errorf("%w: --out: %v", errLocal, err)
	}
	o.done = true
	if d, err := os.Open(filepath.Dir(o.path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// discard removes the temporary file unless commit succeeded.
func (o *partialFile) discard() {
	if !o.done {
		o.f.Close()
		os.Remove(o.f.Name())
	}
}

const encryptFileUsage = `Usage: kmsctl encrypt-file --key-id KEY --in PATH --out PATH
       [--encryption-context K=V,...] [--frame-size BYTES] [--overwrite] [--grant-tokens T ...]

Encrypts a file of any size with envelope encryption: kmsd makes a data
key (GenerateDataKey), the file is encrypted locally with AES-256-GCM in
authenticated frames (default 64 KiB), and the output holds the data key
encrypted under KEY, the encryption context and the frames. The file's
data never goes to kmsd. Memory use does not depend on the file's size.

The output is written to a temporary file next to --out (mode 0600) and
appears at --out only when complete. An existing --out is refused unless
--overwrite is given. A progress bar is drawn on standard error when it is
a terminal. Prints the key ARN, the files and the plaintext size.

Example:
  kmsctl encrypt-file --key-id alias/backups --in db.dump --out db.dump.kmse \
      --encryption-context purpose=backup,host=db1
`

const decryptFileUsage = `Usage: kmsctl decrypt-file --in PATH --out PATH
       [--encryption-context K=V,...] [--key-id KEY] [--overwrite] [--grant-tokens T ...]

Decrypts a file made by encrypt-file: kmsd decrypts only the data key
(Decrypt, with the key and encryption context stored in the file), the
frames are checked and decrypted locally. --encryption-context, when
given, lists pairs the file's context must hold; otherwise the command
fails before asking kmsd. --key-id, when given, must name the key the
file was encrypted under (kmsd refuses others: IncorrectKeyException).

The plaintext is written to a temporary file next to --out (mode 0600)
and renamed to --out only once the whole file has been authenticated: a
file that was altered, truncated or had frames reordered fails (exit
status 255) and leaves no output. Prints the key ARN, the files, the
plaintext size and the file's encryption context.

Example:
  kmsctl decrypt-file --in db.dump.kmse --out db.dump --encryption-context purpose=backup
`
