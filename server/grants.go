package server

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Grants. A grant lets its grantee call its operations on one key, under
// an optional encryption context constraint, without a policy. Grants are
// replicated records of the key store: once CreateGrant returns, the grant
// is effective on every member (see granttoken.go), and once RetireGrant
// or RevokeGrant returns it is gone everywhere. Authorization passes the
// grants whose grantee is the caller to the iam package, where an explicit
// deny in a policy still wins over a grant.
//
// Limits, as AWS KMS's: 50,000 grants per key; names of 1 to 256
// characters of [a-zA-Z0-9:/_-]; principals of 1 to 256 characters;
// constraints of at most 8 pairs. CreateGrant with a Name is idempotent:
// the same name and parameters return the existing grant's id (with a new
// token).

// grantOperations are the grant operations kmsd serves.
var grantOperations = []string{
	"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
	"ReEncryptFrom", "ReEncryptTo", "CreateGrant", "RetireGrant", "DescribeKey",
}

const (
	maxPrincipalLength    = 256
	defaultListGrantLimit = 50
	maxListGrantLimit     = 100
)

var grantNameRE = regexp.MustCompile(`^[a-zA-Z0-9:/_-]{1,256}$`)

// GrantStore is what the grant handlers read (keystore.Store).
type GrantStore interface {
	Grant(keyID, grantID string) (*keystore.Grant, error)
	Grants(keyID, grantee string, limit int, marker string) ([]*keystore.Grant, string, error)
	GrantsFor(keyID, principal string) []*keystore.Grant
	RetirableGrants(principal string, limit int, marker string) ([]*keystore.Grant, string, error)
	SameGrant(g *keystore.Grant) (*keystore.Grant, bool)
}

var _ GrantStore = (*keystore.Store)(nil)

func (s *Server) grantStore() (GrantStore, error) {
	gs, ok := s.store.(GrantStore)
	if !ok {
		return nil, unsupported("This server's store keeps no grants.")
	}
	return gs, nil
}

// CreateGrant adds a grant to a key.
func (s *Server) CreateGrant(ctx context.Context, req *kmsv1.CreateGrantRequest) (*kmsv1.CreateGrantResponse, error) {
	if err := validateCreateGrant(req); err != nil {
		return nil, err
	}
	gs, err := s.grantStore()
	if err != nil {
		return nil, err
	}
	k, err := s.resolveKey(req.GetKeyId(), keyOnly)
	if err != nil {
		return nil, err
	}
	if req.GetDryRun() {
		return nil, errDryRun
	}
	g := &keystore.Grant{
		KeyID: k.ID, Name: req.GetName(), CreationDate: s.now().UTC(),
		GranteePrincipal: req.GetGranteePrincipal(), RetiringPrincipal: req.GetRetiringPrincipal(),
		IssuingAccount: "arn:aws:iam::" + s.accountID + ":root", Operations: req.GetOperations(),
	}
	if c := req.GetConstraints(); c != nil {
		g.EncryptionContextEquals = nonEmpty(c.GetEncryptionContextEquals())
		g.EncryptionContextSubset = nonEmpty(c.GetEncryptionContextSubset())
	}
	if same, ok := gs.SameGrant(g); ok {
		return s.grantResponse(same)
	}
	if g.GrantID, err = newGrantID(s.rand); err != nil {
		return nil, err
	}
	m := &keystore.Mutation{Op: keystore.OpCreateGrant, Time: g.CreationDate, Grant: g}
	if err := s.mutateKey(ctx, k.ID, m); err != nil {
		if errors.Is(err, keystore.ErrLimitExceeded) {
			return nil, newAPIError(codes.ResourceExhausted, excLimitExceeded, "A key can have at most %d grants", keystore.MaxGrantsPerKey)
		}
		return nil, err
	}
	if same, ok := gs.SameGrant(g); ok {
		g = same // an identical named grant won a race
	}
	return s.grantResponse(g)
}

func (s *Server) grantResponse(g *keystore.Grant) (*kmsv1.CreateGrantResponse, error) {
	tok, err := s.newGrantToken(g.KeyID, g.GrantID)
	if err != nil {
		return nil, err
	}
	return &kmsv1.CreateGrantResponse{GrantId: g.GrantID, GrantToken: tok}, nil
}

func validateCreateGrant(req *kmsv1.CreateGrantRequest) error {
	if err := validatePrincipal("granteePrincipal", req.GetGranteePrincipal(), true); err != nil {
		return err
	}
	if err := validatePrincipal("retiringPrincipal", req.GetRetiringPrincipal(), false); err != nil {
		return err
	}
	if n := req.GetName(); n != "" && !grantNameRE.MatchString(n) {
		return constraintError("name", n, "must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$ and have length between 1 and 256")
	}
	ops := req.GetOperations()
	if len(ops) == 0 {
		return validationError("Operations is required.")
	}
	for i, op := range ops {
		switch {
		case slices.Contains(grantOperations, op):
		case slices.Contains(iam.GrantOperations, op):
			return unsupported("The grant operation %s is not supported: kmsd serves symmetric encryption keys.", op)
		default:
			return constraintError("operations", op, "must satisfy enum value set: "+grantOpsList())
		}
		if slices.Contains(ops[:i], op) {
			return validationError("Operations lists %s twice.", op)
		}
	}
	if err := validateGrantTokens(req.GetGrantTokens()); err != nil {
		return err
	}
	c := req.GetConstraints()
	eq, sub := c.GetEncryptionContextEquals(), c.GetEncryptionContextSubset()
	if len(eq) > 0 && len(sub) > 0 {
		return validationError("Constraints may hold EncryptionContextEquals or EncryptionContextSubset, not both.")
	}
	for _, ec := range []map[string]string{eq, sub} {
		if err := envelope.ValidateContext(ec); err != nil {
			return validationError("Invalid grant constraint: %v", err)
		}
	}
	g := iam.Grant{GranteePrincipal: req.GetGranteePrincipal(), Operations: ops,
		EncryptionContextEquals: nonEmpty(eq), EncryptionContextSubset: nonEmpty(sub)}
	if err := g.Validate(); err != nil {
		return validationError("%s", err.Error())
	}
	return nil
}

func grantOpsList() string {
	return "[" + strings.Join(grantOperations, ", ") + "]"
}

// validatePrincipal checks a grantee or retiring principal: an ARN or a
// service principal of 1 to 256 characters.
func validatePrincipal(member, p string, required bool) error {
	switch {
	case p == "" && !required:
		return nil
	case p == "" || len(p) > maxPrincipalLength:
		return constraintError(member, p, "must have length between 1 and 256")
	}
	g := iam.Grant{GranteePrincipal: p, Operations: []string{"DescribeKey"}}
	if err := g.Validate(); err != nil {
		return newAPIError(codes.InvalidArgument, "InvalidArnException", "%s is not a valid principal: %s", truncate(p, 256), member)
	}
	return nil
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

func newGrantID(rand io.Reader) (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// validGrantID reports whether id has the form of a grant id (64
// lower-case hex digits).
func validGrantID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (s *Server) grantEntry(g *keystore.Grant) *kmsv1.GrantListEntry {
	e := &kmsv1.GrantListEntry{
		KeyId: s.keyARN(g.KeyID), GrantId: g.GrantID, Name: g.Name, CreationDate: timestamppb.New(g.CreationDate),
		GranteePrincipal: g.GranteePrincipal, RetiringPrincipal: g.RetiringPrincipal,
		IssuingAccount: g.IssuingAccount, Operations: slices.Clone(g.Operations),
	}
	if g.EncryptionContextEquals != nil || g.EncryptionContextSubset != nil {
		e.Constraints = &kmsv1.GrantConstraints{
			EncryptionContextEquals: maps.Clone(g.EncryptionContextEquals),
			EncryptionContextSubset: maps.Clone(g.EncryptionContextSubset),
		}
	}
	return e
}
