package server

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/cluster"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// chunkStream is a Restore stream that delivers chunks.
type chunkStream struct {
	grpc.ServerStream
	chunks [][]byte
}

func (c *chunkStream) Recv() (*kmsv1.RestoreChunk, error) {
	if len(c.chunks) == 0 {
		return nil, io.EOF
	}
	b := c.chunks[0]
	c.chunks = c.chunks[1:]
	return &kmsv1.RestoreChunk{Data: b}, nil
}

func (c *chunkStream) SendAndClose(*kmsv1.RestoreResponse) error { return nil }

// roomFor has room for limit bytes and records what it was asked.
type roomFor struct {
	limit uint64
	asked []uint64
}

func (r *roomFor) Room(need uint64) error {
	r.asked = append(r.asked, need)
	if need > r.limit {
		return cluster.ErrStorageFull
	}
	return nil
}

// A backup being received stops before the data directory lacks the room
// its restore needs (five times its size: the file, Raft's snapshot, the
// store's spool and the restored state, twice), counting what is written.
func TestReceiveBackupChecksRoom(t *testing.T) {
	const chunk = 256 << 10
	chunks := [][]byte{make([]byte, chunk), make([]byte, chunk), make([]byte, chunk)}
	for _, tc := range []struct {
		limit     uint64
		wantErr   error
		wantBytes int64
	}{
		{limit: 1 << 40, wantBytes: 3 * chunk},
		{limit: 5*3*chunk - 2*chunk, wantBytes: 3 * chunk}, // exactly enough
		{limit: 5*3*chunk - 2*chunk - 1, wantErr: cluster.ErrStorageFull},
		{limit: 5*chunk - 1, wantErr: cluster.ErrStorageFull},
	} {
		f, err := os.Create(filepath.Join(t.TempDir(), "backup"))
		if err != nil {
			t.Fatal(err)
		}
		room := &roomFor{limit: tc.limit}
		n, err := receiveBackup(&chunkStream{chunks: chunks}, f, room, time.Minute)
		f.Close()
		if !errors.Is(err, tc.wantErr) || (err == nil && n != tc.wantBytes) {
			t.Errorf("room %d: %d bytes, %v; want %d, %v (asked %v)", tc.limit, n, err, tc.wantBytes, tc.wantErr, room.asked)
		}
	}
	if _, err := receiveBackup(&chunkStream{}, nil, nil, time.Minute); err == nil {
		t.Error("an empty backup was taken")
	}
	if _, err := receiveBackup(&chunkStream{chunks: [][]byte{make([]byte, maxRestoreChunk+1)}}, nil, nil, time.Minute); err == nil {
		t.Error("an oversized chunk was taken")
	}
}

// stallingStream delivers its chunks, then waits until released.
type stallingStream struct {
	chunkStream
	release chan struct{}
}

func (s *stallingStream) Recv() (*kmsv1.RestoreChunk, error) {
	if len(s.chunks) == 0 {
		<-s.release
		return nil, io.EOF
	}
	return s.chunkStream.Recv()
}

// An upload whose client stops sending is given up after the idle time,
// with DeadlineExceeded, and not waited for while chunks keep coming.
func TestReceiveBackupGivesUpOnAStalledUpload(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "backup"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stream := &stallingStream{chunkStream: chunkStream{chunks: [][]byte{make([]byte, 1024), make([]byte, 1024)}}, release: make(chan struct{})}
	defer close(stream.release)
	const idle = 100 * time.Millisecond
	start := time.Now()
	_, err = receiveBackup(stream, f, nil, idle)
	if ae := (*apiError)(nil); !errors.As(err, &ae) || ae.code != codes.DeadlineExceeded {
		t.Fatalf("stalled upload: %v, want DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited < idle {
		t.Fatalf("gave up after %v, before the idle time %v", waited, idle)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 2048 {
		t.Fatalf("the chunks before the stall were not written (%v, %v)", fi, err)
	}
}
