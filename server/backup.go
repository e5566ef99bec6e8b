package server

import (
	"bufio"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Backups. A backup is a point-in-time copy of the replicated state — the
// keys with their material wrapped under the root key, aliases, tags, the
// audit log with its signed tree heads — made by any member while it
// serves (ClusterService.Backup, "kmsctl cluster backup"), and restored
// offline into a new data directory ("kmsd restore"), from which a new
// cluster starts.
//
// The file holds no plaintext key material, and it is authenticated with a
// key derived from the root key: it restores only with the root key of the
// cluster that made it, and a file changed in any byte is refused before
// any of it is used.
//
// Format:
//
//	magic "KMSDBKP1"
//	header length (uint32, big-endian) || header (JSON, BackupHeader)
//	the key store's snapshot stream (keystore.Snapshot.WriteTo)
//	HMAC-SHA256 of every byte before it, under
//	HKDF-SHA256(root key, info "kmsd backup v1") (32 bytes)

const (
	backupMagic     = "KMSDBKP1"
	backupMACInfo   = "kmsd backup v1"
	maxBackupHeader = 64 << 10
)

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

func backupMAC(root envelope.Key) (hashWriter, error) {
	k, err := hkdf.Key(sha256.New, root.Bytes(), nil, backupMACInfo, 32)
	if err != nil {
		return nil, err
	}
	return hmac.New(sha256.New, k), nil
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

// WriteBackup writes a backup of snap to w.
func WriteBackup(w io.Writer, snap *keystore.Snapshot, root envelope.Key, h BackupHeader) error {
	mac, err := backupMAC(root)
	if err != nil {
		return err
	}
	if h.AppliedIndex, err = snap.AppliedIndex(); err != nil {
		return err
	}
	h.Format, h.RootKeyFingerprint = 1, envelope.RootKeyFingerprint(root)
	hb, err := json.Marshal(h)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(io.MultiWriter(w, mac), 256<<10)
	bw.WriteString(backupMagic)
	bw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(hb))))
	bw.Write(hb)
	if _, err := snap.WriteTo(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err = w.Write(mac.Sum(nil))
	return err
}

// OpenBackup checks that r (a whole backup file) was made with root and is
// unchanged, then returns its header and the snapshot stream, to restore
// with keystore.Store.Restore. r is read twice: once to check its MAC,
// then for the contents.
func OpenBackup(r io.ReadSeeker, root envelope.Key) (BackupHeader, io.Reader, error) {
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return BackupHeader{}, nil, err
	}
	if size < int64(len(backupMagic))+4+sha256.Size {
		return BackupHeader{}, nil, fmt.Errorf("%w: too short", ErrBackup)
	}
	mac, err := backupMAC(root)
	if err != nil {
		return BackupHeader{}, nil, err
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return BackupHeader{}, nil, err
	}
	body := size - sha256.Size
	if _, err := io.CopyN(mac, r, body); err != nil {
		return BackupHeader{}, nil, err
	}
	tag := make([]byte, sha256.Size)
	if _, err := io.ReadFull(r, tag); err != nil {
		return BackupHeader{}, nil, err
	}
	if !hmac.Equal(tag, mac.Sum(nil)) {
		return BackupHeader{}, nil, ErrBackup
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return BackupHeader{}, nil, err
	}
	br := bufio.NewReader(io.LimitReader(r, body))
	pre := make([]byte, len(backupMagic)+4)
	if _, err := io.ReadFull(br, pre); err != nil || string(pre[:len(backupMagic)]) != backupMagic {
		return BackupHeader{}, nil, fmt.Errorf("%w: bad magic", ErrBackup)
	}
	n := binary.BigEndian.Uint32(pre[len(backupMagic):])
	if n > maxBackupHeader {
		return BackupHeader{}, nil, fmt.Errorf("%w: header too long", ErrBackup)
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(br, hb); err != nil {
		return BackupHeader{}, nil, fmt.Errorf("%w: %w", ErrBackup, err)
	}
	var h BackupHeader
	if err := json.Unmarshal(hb, &h); err != nil || h.Format != 1 {
		return BackupHeader{}, nil, fmt.Errorf("%w: bad header", ErrBackup)
	}
	return h, br, nil
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
