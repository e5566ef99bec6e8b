package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/audit"
	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
)

// auditKeyAAD binds the wrapped signing key to its purpose: a blob of key
// version material copied into its place does not unwrap.
var auditKeyAAD = []byte("kmsd audit signing key v1")

// errNoSigningKey: the log has no signing key yet and none could be
// committed.
var errNoSigningKey = &apiError{code: codes.Unavailable, name: excDependency,
	message: "The audit log has no signing key yet; retry once the cluster has a leader."}

// signer signs tree heads; one head is signed at a time.
type signer struct {
	mu   sync.Mutex
	priv ed25519.PrivateKey // unwrapped on first use
}

// maxHeadLeaves bounds the records one signed tree head covers: the leader
// signs a head at least every maxHeadLeaves records, and each head carries
// the leaf hashes of its records, so that a verifier can name exactly the
// first record altered in the store since it was signed.
const maxHeadLeaves = 8192

// storedHead is the encoding of a signed tree head in the replicated log.
// Leaves is the concatenation of the leaf hashes of the records it adds.
type storedHead struct {
	Head      []byte `json:"head"`
	Signature []byte `json:"signature"`
	KeyID     []byte `json:"keyId"`
	Leaves    []byte `json:"leaves,omitempty"`
}

func encodeHead(sth audit.SignedTreeHead) ([]byte, error) {
	leaves := make([]byte, 0, len(sth.Leaves)*len(audit.Hash{}))
	for _, l := range sth.Leaves {
		leaves = append(leaves, l[:]...)
	}
	return json.Marshal(storedHead{Head: sth.Head.Marshal(), Signature: sth.Signature, KeyID: sth.KeyID[:], Leaves: leaves})
}

func decodeHead(b []byte) (audit.SignedTreeHead, error) {
	var sh storedHead
	if err := json.Unmarshal(b, &sh); err != nil {
		return audit.SignedTreeHead{}, fmt.Errorf("server: stored tree head: %w", err)
	}
	h, err := audit.ParseTreeHead(sh.Head)
	if err != nil {
		return audit.SignedTreeHead{}, fmt.Errorf("server: stored tree head: %w", err)
	}
	var id audit.KeyID
	if len(sh.KeyID) != len(id) {
		return audit.SignedTreeHead{}, errors.New("server: stored tree head: bad key id")
	}
	copy(id[:], sh.KeyID)
	if len(sh.Leaves)%len(audit.Hash{}) != 0 {
		return audit.SignedTreeHead{}, errors.New("server: stored tree head: bad leaf hashes")
	}
	leaves := make([]audit.Hash, len(sh.Leaves)/len(audit.Hash{}))
	for i := range leaves {
		copy(leaves[i][:], sh.Leaves[i*len(audit.Hash{}):])
	}
	return audit.SignedTreeHead{Head: h, KeyID: id, Signature: sh.Signature, Leaves: leaves}, nil
}

// signingKeyLocked returns the log's signing key, creating it (on the
// leader) if the log has none. The caller holds s.signer.mu.
func (s *Server) signingKeyLocked(ctx context.Context) (ed25519.PrivateKey, error) {
	lk, ok := s.audit.store.GetLogKey()
	if s.signer.priv != nil {
		if ok && bytes.Equal(s.signer.priv.Public().(ed25519.PublicKey), lk.PublicKey) {
			return s.signer.priv, nil
		}
		// A restore brought another log's key (or none): its heads are
		// signed with that one.
		s.signer.priv = nil
		s.headSize.Store(0)
	}
	if !ok {
		if err := s.createSigningKey(ctx); err != nil && !errors.Is(err, keystore.ErrAlreadyExists) {
			return nil, err
		}
		if lk, ok = s.audit.store.GetLogKey(); !ok {
			return nil, errNoSigningKey
		}
	}
	seed, err := envelope.UnwrapKey(s.rootKey, lk.WrappedSeed, auditKeyAAD)
	if err != nil {
		return nil, fmt.Errorf("server: audit signing key does not unwrap under the root key: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed.Bytes())
	if subtle.ConstantTimeCompare(priv.Public().(ed25519.PublicKey), lk.PublicKey) != 1 {
		return nil, errors.New("server: stored audit public key does not match its private key")
	}
	s.signer.priv = priv
	return priv, nil
}

// createSigningKey makes a new Ed25519 key, wraps its seed under the root
// key and commits it (from a follower, through the leader); the first key
// committed stays.
func (s *Server) createSigningKey(ctx context.Context) error {
	seed, err := envelope.GenerateKey(s.rand)
	if err != nil {
		return err
	}
	wrapped, err := envelope.WrapKey(s.rand, s.rootKey, seed, auditKeyAAD)
	if err != nil {
		return err
	}
	pub := ed25519.NewKeyFromSeed(seed.Bytes()).Public().(ed25519.PublicKey)
	ctx, cancel := s.mutationContext(ctx)
	defer cancel()
	return s.auditP.SetAuditKey(ctx, keystore.LogKey{WrappedSeed: wrapped, PublicKey: pub})
}

// publicKey returns the log's public key, creating the key pair if the log
// has none yet.
func (s *Server) publicKey(ctx context.Context) (ed25519.PublicKey, error) {
	if lk, ok := s.audit.store.GetLogKey(); ok {
		return lk.PublicKey, nil
	}
	s.signer.mu.Lock()
	defer s.signer.mu.Unlock()
	priv, err := s.signingKeyLocked(ctx)
	if err != nil {
		return nil, err
	}
	return priv.Public().(ed25519.PublicKey), nil
}

// lastHead returns the newest signed tree head and the number of heads.
func (s *Server) lastHead() (audit.SignedTreeHead, uint64, error) {
	n := s.audit.store.LogHeadCount()
	if n == 0 {
		return audit.SignedTreeHead{}, 0, nil
	}
	hs, err := s.audit.store.LogHeads(n-1, n)
	if err != nil {
		return audit.SignedTreeHead{}, 0, err
	}
	sth, err := decodeHead(hs[0])
	return sth, n, err
}

// signHead signs tree heads over every record applied on this node (one
// per maxHeadLeaves records) and commits them, unless the newest head covers
// them already; it returns the newest head. Only the leader can sign.
func (s *Server) signHead(ctx context.Context) (audit.SignedTreeHead, error) {
	s.signer.mu.Lock()
	defer s.signer.mu.Unlock()
	priv, err := s.signingKeyLocked(ctx)
	if err != nil {
		return audit.SignedTreeHead{}, err
	}
	target, _ := s.audit.Size()
	for {
		sth, err := s.signNextLocked(ctx, priv, target)
		if err != nil {
			return sth, err
		}
		s.headSize.Store(sth.Head.Size)
		if int64(sth.Head.Size) >= target {
			return sth, nil
		}
	}
}

// signNextLocked signs and commits the next head: over the records up to
// target, or maxHeadLeaves past the newest head if that is less.
func (s *Server) signNextLocked(ctx context.Context, priv ed25519.PrivateKey, target int64) (audit.SignedTreeHead, error) {
	for attempt := 0; ; attempt++ {
		prev, count, err := s.lastHead()
		if err != nil {
			return audit.SignedTreeHead{}, err
		}
		if count > 0 && int64(prev.Head.Size) >= target {
			return prev, nil
		}
		size := min(target, int64(prev.Head.Size)+maxHeadLeaves)
		var root audit.Hash
		var leaves []audit.Hash
		err = s.audit.withTree(func(t *audit.Tree) (err error) {
			// Sign only up to the first record kmsd did not write.
			authentic, err := s.checkRecordMACs(t, int64(prev.Head.Size), size)
			if err != nil {
				return err
			}
			if authentic < size {
				s.log.Error("audit record not written by kmsd: it stays outside every signed head; run kmsctl audit verify",
					"index", authentic)
				if authentic == int64(prev.Head.Size) {
					return errUnauthenticRecord{authentic}
				}
				size = authentic
			}
			if root, err = t.Root(size); err != nil {
				return err
			}
			leaves, err = t.LeafHashes(int64(prev.Head.Size), size)
			return err
		})
		if err != nil {
			return audit.SignedTreeHead{}, err
		}
		ts := s.now().UTC()
		if ts.Before(prev.Head.Timestamp) {
			// A leader whose clock is behind the last signer's.
			ts = prev.Head.Timestamp
		}
		sth, err := audit.Sign(priv, audit.TreeHead{Size: uint64(size), Root: root, Timestamp: ts, PrevSize: prev.Head.Size})
		if err != nil {
			return audit.SignedTreeHead{}, err
		}
		sth.Leaves = leaves
		b, err := encodeHead(sth)
		if err != nil {
			return audit.SignedTreeHead{}, err
		}
		cctx, cancel := s.mutationContext(ctx)
		err = s.auditP.AppendAuditHead(cctx, count, b)
		cancel()

		if errors.Is(err, keystore.ErrAlreadyExists) && attempt < 3 {
			continue // another leader signed meanwhile
		}
		return sth, err
	}
}

// maybeKickSigner asks the scheduler for a head when maxHeadLeaves records
// are not covered by one.
func (s *Server) maybeKickSigner() {
	size, _ := s.audit.Size()
	if size-int64(s.headSize.Load()) < maxHeadLeaves {
		return
	}
	select {
	case s.signKick <- struct{}{}:
	default:
	}
}

// signIfLeader signs a head over the records added since the last one. The
// scheduler calls it at the configured cadence.
func (s *Server) signIfLeader(ctx context.Context) {
	if s.audit == nil || !s.proposer.IsLeader() {
		return
	}
	if _, err := s.signHead(ctx); err != nil {
		s.log.Warn("audit tree head not signed; will retry", "err", err)
	}
}
