package cluster

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// Log entry encoding, version 1 (the index is in the Badger key):
//
//	version (1) || term (uvarint) || type (1) || appended-at (varint, Unix ns, 0 = unset)
//	|| len(data) (uvarint) || data || len(extensions) (uvarint) || extensions
const logCodecVersion = 1

var errBadLog = errors.New("cluster: malformed log entry")

func encodeLog(l *raft.Log) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+2+len(l.Data)+len(l.Extensions)+2*binary.MaxVarintLen32)
	b = append(b, logCodecVersion)
	b = binary.AppendUvarint(b, l.Term)
	b = append(b, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	b = binary.AppendVarint(b, at)
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	b = append(b, l.Data...)
	b = binary.AppendUvarint(b, uint64(len(l.Extensions)))
	return append(b, l.Extensions...)
}

// decodeLog fills out from b. out's byte slices are fresh copies.
func decodeLog(index uint64, b []byte, out *raft.Log) error {
	d := decoder{b: b}
	if d.byte() != logCodecVersion {
		return errBadLog
	}
	term := d.uvarint()
	typ := raft.LogType(d.byte())
	at := d.varint()
	data := d.bytes()
	ext := d.bytes()
	if d.err || len(d.b) != 0 {
		return errBadLog
	}
	*out = raft.Log{Index: index, Term: term, Type: typ, Data: data, Extensions: ext}
	if at != 0 {
		out.AppendedAt = time.Unix(0, at)
	}
	return nil
}

// decoder reads fields from b; after the first error every read returns
// zero and err stays set.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) byte() byte {
	if d.err || len(d.b) < 1 {
		d.err = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	x, n := binary.Uvarint(d.b)
	if d.err || n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) varint() int64 {
	x, n := binary.Varint(d.b)
	if d.err || n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return x
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		return nil
	}
	if n == 0 {
		return nil
	}
	out := append([]byte(nil), d.b[:n]...)
	d.b = d.b[n:]
	return out
}
