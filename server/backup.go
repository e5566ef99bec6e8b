package server

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/envelope/message"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Backups. A backup is a point-in-time copy of the replicated state — the
// keys with their material wrapped under the root key, aliases, tags,
// identities, the audit log with its signed tree heads — made by any member
// while it serves (ClusterService.Backup, "kmsctl cluster snapshot save"),
// and restored either into the running cluster (ClusterService.Restore,
// restore.go) or offline into a new data directory ("kmsd restore"), from
// which a new cluster starts.
//
// The file is encrypted and authenticated as a whole: nothing of the state
// (key ids, aliases, descriptions, users, audit records) can be read from
// it without the root key of the cluster that made it, and a file changed
// in any byte, cut short or extended is refused before any of it is used.
//
// Format (version 2):
//
//	magic "KMSDBKP2"
//	an envelope/message message (framed AES-256-GCM with key commitment):
//	  key id "kmsd-backup", no encryption context,
//	  wrapped key: a fresh 32-byte data key sealed under the root key
//	  (envelope.WrapBytes, associated data "kmsd/v2/backup-data-key")
//	  plaintext: header length (uint32, big-endian) || header (JSON,
//	  BackupHeader) || the key store's snapshot stream
//	  (keystore.Snapshot.WriteTo)

const (
	backupMagic     = "KMSDBKP2"
	backupKeyID     = "kmsd-backup"
	maxBackupHeader = 64 << 10
	backupFrameSize = 256 << 10
)

var backupKeyAAD = []byte("kmsd/v2/backup-data-key")

// BackupHeader describes a backup.
type BackupHeader struct {
	Format int `json:"format"`
	// CreatedAt is when the snapshot was taken, by NodeID.
	CreatedAt time.Time `json:"createdAt"`
	NodeID    string    `json:"nodeId"`
	// AppliedIndex is the Raft index of the last entry the state holds.
	AppliedIndex uint64 `json:"appliedIndex"`
	// RootKeyFingerprint identifies the root key the backup needs.
	RootKeyFingerprint string `json:"rootKeyFingerprint"`
}

// ErrBackup is returned for a file that is not a backup made with the
// given root key, or that was changed.
var ErrBackup = errors.New("server: not a kmsd backup made with this root key, or altered")

// WriteBackup writes a backup of snap to w, encrypted under a fresh data
// key sealed with root.
func WriteBackup(w io.Writer, snap *keystore.Snapshot, root envelope.Key, h BackupHeader) error {
	var err error
	if h.AppliedIndex, err = snap.AppliedIndex(); err != nil {
		return err
	}
	h.Format, h.RootKeyFingerprint = 2, envelope.RootKeyFingerprint(root)
	hb, err := json.Marshal(h)
	if err != nil {
		return err
	}
	dataKey := make([]byte, message.DataKeySize)
	defer clear(dataKey)
	mh := message.Header{FrameSize: backupFrameSize, KeyID: backupKeyID}
	if _, err := io.ReadFull(rand.Reader, dataKey); err != nil {
		return err
	}
	if _, err := io.ReadFull(rand.Reader, mh.MessageID[:]); err != nil {
		return err
	}
	if mh.WrappedKey, err = envelope.WrapBytes(rand.Reader, root, dataKey, backupKeyAAD); err != nil {
		return err
	}
	if _, err := io.WriteString(w, backupMagic); err != nil {
		return err
	}
	mw, err := message.NewWriter(w, dataKey, mh)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(mw, backupFrameSize)
	bw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(hb))))
	bw.Write(hb)
	if _, err := snap.WriteTo(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return mw.Close()
}

// OpenBackup checks that r (a whole backup file) was made with root and is
// unchanged, then returns its header and the snapshot stream, to restore
// with keystore.Store.Restore. r is read twice: once, decrypting, to
// authenticate all of it, then for the contents, so that nothing of a
// file altered anywhere is used.
func OpenBackup(r io.ReadSeeker, root envelope.Key) (BackupHeader, io.Reader, error) {
	mr, err := openBackupMessage(r, root)
	if err != nil {
		return BackupHeader{}, nil, err
	}
	if _, err := io.Copy(io.Discard, mr); err != nil {
		return BackupHeader{}, nil, backupError(err)
	}
	return readBackupHeader(r, root)
}

// openBackupData returns the snapshot stream of a backup that OpenBackup
// accepted, reading it once: every frame is authenticated as it is read,
// and a frame changed since fails the read with ErrBackup.
func openBackupData(r io.ReadSeeker, root envelope.Key) (io.Reader, error) {
	_, data, err := readBackupHeader(r, root)
	return data, err
}

// readBackupHeader opens r and reads the backup's header, returning it and
// the snapshot stream after it.
func readBackupHeader(r io.ReadSeeker, root envelope.Key) (BackupHeader, io.Reader, error) {
	mr, err := openBackupMessage(r, root)
	if err != nil {
		return BackupHeader{}, nil, err
	}
	br := bufio.NewReaderSize(&backupReader{mr}, backupFrameSize)
	var n uint32
	if err := binary.Read(br, binary.BigEndian, &n); err != nil {
		return BackupHeader{}, nil, fmt.Errorf("%w: %w", ErrBackup, err)
	}
	if n > maxBackupHeader {
		return BackupHeader{}, nil, fmt.Errorf("%w: header too long", ErrBackup)
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(br, hb); err != nil {
		return BackupHeader{}, nil, fmt.Errorf("%w: %w", ErrBackup, err)
	}
	var h BackupHeader
	if err := json.Unmarshal(hb, &h); err != nil || h.Format != 2 {
		return BackupHeader{}, nil, fmt.Errorf("%w: bad header", ErrBackup)
	}
	return h, br, nil
}

// openBackupMessage checks r's magic and message header, unwraps the data
// key with root and returns a reader of the message's plaintext.
func openBackupMessage(r io.ReadSeeker, root envelope.Key) (*message.Reader, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, backupFrameSize)
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != backupMagic {
		return nil, fmt.Errorf("%w: not a kmsd backup (format 2)", ErrBackup)
	}
	mh, err := message.ReadHeader(br)
	if err != nil || mh.KeyID != backupKeyID || len(mh.EncryptionContext) != 0 {
		return nil, fmt.Errorf("%w: bad header", ErrBackup)
	}
	dataKey, err := envelope.UnwrapBytes(root, mh.WrappedKey, backupKeyAAD)
	if err != nil || len(dataKey) != message.DataKeySize {
		return nil, ErrBackup
	}
	defer clear(dataKey)
	mr, err := message.NewReader(br, mh, dataKey)
	if err != nil {
		return nil, ErrBackup
	}
	return mr, nil
}

// backupError turns a failure to decrypt into ErrBackup; a failure to read
// the file stays what it is.
func backupError(err error) error {
	if errors.Is(err, envelope.ErrDecrypt) {
		return ErrBackup
	}
	return err
}

// backupReader reports a second read that no longer authenticates (the
// file changed between the two reads) as ErrBackup.
type backupReader struct{ r io.Reader }

func (b *backupReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = backupError(err)
	}
	return n, err
}

// snapshotter is the part of the key store a backup needs.
type snapshotter interface {
	Snapshot() (*keystore.Snapshot, error)
}

// backupChunk is the size of the messages a backup is streamed in.
const backupChunk = 256 << 10

func (c *clusterService) Backup(_ *kmsv1.BackupRequest, stream kmsv1.ClusterService_BackupServer) error {
	s := c.srv
	st, ok := s.store.(snapshotter)
	if !ok {
		return &apiError{code: codes.Unimplemented, name: excUnsupported, message: "This server cannot make backups."}
	}
	if s.reads != nil {
		// Every mutation acknowledged so far, by any member, is in it.
		if err := s.readBarrier(stream.Context()); err != nil {
			return err
		}
	}
	// And every audit record this member acknowledged.
	if err := s.auditBarrier(stream.Context()); err != nil {
		return err
	}
	snap, err := st.Snapshot()
	if err != nil {
		return err
	}
	defer snap.Release()
	w := &chunkWriter{send: func(b []byte) error { return stream.Send(&kmsv1.BackupChunk{Data: b}) }}
	if err := WriteBackup(w, snap, s.rootKey, BackupHeader{CreatedAt: s.now().UTC(), NodeID: s.nodeID}); err != nil {
		return err
	}
	return w.flush()
}

// chunkWriter sends what is written in messages of backupChunk bytes.
type chunkWriter struct {
	buf  []byte
	send func([]byte) error
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), backupChunk-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == backupChunk {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(w.buf)
	w.buf = make([]byte, 0, backupChunk)
	return err
}
