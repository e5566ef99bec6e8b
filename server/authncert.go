package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/kmsd/kmsd/audit"
	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/iam"
)

// Client certificates as credentials. When kmsd serves its API over TLS
// with a certificate authority (--tls-ca-file), a client may present a
// certificate issued by it ("kmsd tls client --user-arn ARN"). A
// certificate that names an IAM user's ARN as a URI subject alternative
// name stands for that user: an unsigned call made over such a connection
// is the user's call, authorized by the user's policies like a signed one.
// A signed call is always the signer's, whatever certificate the
// connection has.
//
// The user must exist, with the same ARN and unique id, when the call is
// made, so deleting the user ends every certificate made for it (a user
// made again under the same name has another id); a certificate
// that names no user, a role, another account or a user that is gone
// leaves the call unsigned (UnauthenticatedException). TLS has already
// checked the chain to the CA, the validity dates and the client-auth
// usage before the call reaches this point. The audit record names the
// certificate by its SHA-256 fingerprint, in the access key id's place.

// certFingerprintPrefix marks an audit record's credential as a
// certificate fingerprint rather than an access key id.
const certFingerprintPrefix = "x509:sha256:"

// certificateCaller returns the user the connection's verified client
// certificate stands for, if it names one.
func (a *authenticator) certificateCaller(ctx context.Context) (caller, bool) {
	if a.users == nil {
		return caller{}, false
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return caller{}, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return caller{}, false // no certificate, or one TLS did not verify
	}
	leaf := info.State.VerifiedChains[0][0]
	if len(leaf.URIs) != 2 {
		return caller{}, false // exactly the user's ARN and its id
	}
	arn, id := leaf.URIs[0].String(), leaf.URIs[1].String()
	prefix := "arn:aws:iam::" + a.account + ":user/"
	if !strings.HasPrefix(arn, prefix) || !strings.HasPrefix(id, cluster.UserIDURIPrefix) {
		return caller{}, false
	}
	name := arn[strings.LastIndexByte(arn, '/')+1:]
	u, ok := a.users.User(name)
	// Case and path must match exactly, and the id: a user made again
	// under the same name is another user.
	if !ok || u.Arn != arn || subtle.ConstantTimeCompare([]byte(u.UserID), []byte(strings.TrimPrefix(id, cluster.UserIDURIPrefix))) != 1 {
		return caller{}, false
	}
	pr, err := iam.UserPrincipal(u.Arn, u.UserID)
	if err != nil {
		return caller{}, false
	}
	sum := sha256.Sum256(leaf.Raw)
	return caller{principal: pr, userName: u.UserName, identity: audit.UserIdentity{Type: "IAMUser", PrincipalID: u.UserID,
		ARN: u.Arn, AccountID: a.account, AccessKeyID: certFingerprintPrefix + hex.EncodeToString(sum[:]), UserName: u.UserName}}, true
}
