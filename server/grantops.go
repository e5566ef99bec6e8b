package server

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// ListGrants lists a key's grants, optionally one grant or one grantee's.
func (s *Server) ListGrants(ctx context.Context, req *kmsv1.ListGrantsRequest) (*kmsv1.ListGrantsResponse, error) {
	limit, err := pageLimit(req.GetLimit(), defaultListGrantLimit, maxListGrantLimit)
	if err != nil {
		return nil, err
	}
	if id := req.GetGrantId(); id != "" && !validGrantID(id) {
		return nil, newAPIError(codes.InvalidArgument, excInvalidGrantID, "The grant id is not valid.")
	}
	if err := validatePrincipal("granteePrincipal", req.GetGranteePrincipal(), false); err != nil {
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
	resp := &kmsv1.ListGrantsResponse{}
	if id := req.GetGrantId(); id != "" {
		if req.GetMarker() != "" {
			return resp, nil
		}
		if g, err := gs.Grant(k.ID, id); err == nil && (req.GetGranteePrincipal() == "" || g.GranteePrincipal == req.GetGranteePrincipal()) {
			resp.Grants = append(resp.Grants, s.grantEntry(g))
		}
		return resp, nil
	}
	grants, next, err := gs.Grants(k.ID, req.GetGranteePrincipal(), limit, req.GetMarker())
	if err != nil {
		return nil, err
	}
	for _, g := range grants {
		resp.Grants = append(resp.Grants, s.grantEntry(g))
	}
	resp.NextMarker, resp.Truncated = next, next != ""
	return resp, nil
}

// ListRetirableGrants lists the grants, of every key, that a principal
// may retire.
func (s *Server) ListRetirableGrants(ctx context.Context, req *kmsv1.ListRetirableGrantsRequest) (*kmsv1.ListRetirableGrantsResponse, error) {
	limit, err := pageLimit(req.GetLimit(), defaultListGrantLimit, maxListGrantLimit)
	if err != nil {
		return nil, err
	}
	if err := validatePrincipal("retiringPrincipal", req.GetRetiringPrincipal(), true); err != nil {
		return nil, err
	}
	gs, err := s.grantStore()
	if err != nil {
		return nil, err
	}
	grants, next, err := gs.RetirableGrants(req.GetRetiringPrincipal(), limit, req.GetMarker())
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.ListRetirableGrantsResponse{NextMarker: next, Truncated: next != ""}
	for _, g := range grants {
		resp.Grants = append(resp.Grants, s.grantEntry(g))
	}
	return resp, nil
}

// RetireGrant ends a grant named by its token or by key and grant id. The
// grant's retiring principal may retire it, its grantee if the grant
// allows RetireGrant, the account root, and whoever the key's policy (or,
// where it lets them count, identity policies) allows kms:RetireGrant on
// the key.
func (s *Server) RetireGrant(ctx context.Context, req *kmsv1.RetireGrantRequest) (*kmsv1.RetireGrantResponse, error) {
	keyID, grantID, err := s.grantToRetire(req)
	if err != nil {
		return nil, err
	}
	gs, err := s.grantStore()
	if err != nil {
		return nil, err
	}
	named := req.GetKeyId()
	if named == "" {
		named = s.keyARN(keyID)
	}
	g, err := gs.Grant(keyID, grantID)
	if err != nil {
		// The same refusal whether or not the grant exists, unless the
		// caller could see it.
		if derr := s.decideOnKey(ctx, "kms:RetireGrant", keyID, named); derr != nil {
			return nil, derr
		}
		return nil, notFound("Grant %s does not exist on key %s", grantID, s.keyARN(keyID))
	}
	if err := s.mayRetire(ctx, g, named); err != nil {
		return nil, err
	}
	if req.GetDryRun() {
		return nil, errDryRun
	}
	if err := s.endGrant(ctx, keystore.OpRetireGrant, g); err != nil {
		return nil, err
	}
	return &kmsv1.RetireGrantResponse{}, nil
}

// grantToRetire returns the key and grant a RetireGrant request names.
func (s *Server) grantToRetire(req *kmsv1.RetireGrantRequest) (keyID, grantID string, err error) {
	if tok := req.GetGrantToken(); tok != "" {
		if len(tok) > maxGrantTokenBytes {
			return "", "", errInvalidGrantToken
		}
		keyID, grantID, err = s.parseGrantToken(tok)
		if err != nil {
			return "", "", err
		}
		if req.GetGrantId() != "" && req.GetGrantId() != grantID {
			return "", "", newAPIError(codes.InvalidArgument, excInvalidGrantID, "The grant id does not match the grant token.")
		}
		return keyID, grantID, nil
	}
	if req.GetKeyId() == "" || req.GetGrantId() == "" {
		return "", "", validationError("Specify GrantToken, or KeyId and GrantId.")
	}
	if !validGrantID(req.GetGrantId()) {
		return "", "", newAPIError(codes.InvalidArgument, excInvalidGrantID, "The grant id is not valid.")
	}
	k, err := s.resolveKey(req.GetKeyId(), keyOnly)
	if err != nil {
		return "", "", err
	}
	return k.ID, req.GetGrantId(), nil
}

// RevokeGrant ends a grant; it is authorized as kms:RevokeGrant on the key.
func (s *Server) RevokeGrant(ctx context.Context, req *kmsv1.RevokeGrantRequest) (*kmsv1.RevokeGrantResponse, error) {
	if req.GetGrantId() == "" {
		return nil, validationError("GrantId is required.")
	}
	if !validGrantID(req.GetGrantId()) {
		return nil, newAPIError(codes.InvalidArgument, excInvalidGrantID, "The grant id is not valid.")
	}
	gs, err := s.grantStore()
	if err != nil {
		return nil, err
	}
	k, err := s.resolveKey(req.GetKeyId(), keyOnly)
	if err != nil {
		return nil, err
	}
	g, err := gs.Grant(k.ID, req.GetGrantId())
	if err != nil {
		return nil, notFound("Grant %s does not exist on key %s", req.GetGrantId(), s.keyARN(k.ID))
	}
	if req.GetDryRun() {
		return nil, errDryRun
	}
	if err := s.endGrant(ctx, keystore.OpRevokeGrant, g); err != nil {
		return nil, err
	}
	return &kmsv1.RevokeGrantResponse{}, nil
}

func (s *Server) endGrant(ctx context.Context, op keystore.Op, g *keystore.Grant) error {
	m := &keystore.Mutation{Op: op, Time: s.now().UTC(), KeyID: g.KeyID, GrantID: g.GrantID}
	err := s.propose(ctx, m)
	if errors.Is(err, keystore.ErrNotFound) {
		return notFound("Grant %s does not exist on key %s", g.GrantID, s.keyARN(g.KeyID))
	}
	return err
}

// mayRetire decides whether the caller may retire grant g.
func (s *Server) mayRetire(ctx context.Context, g *keystore.Grant, named string) error {
	who, ok := callerFrom(ctx)
	if s.auth == nil && !ok {
		return nil // no authentication: every call acts as the root
	}
	p := &who.principal
	is := func(arn string) bool {
		return arn != "" && (arn == p.ARN || p.Type == iam.PrincipalRoleSession && arn == p.RoleARN)
	}
	switch {
	case ok && p.Type == iam.PrincipalRoot:
		return nil
	case ok && is(g.RetiringPrincipal):
		return nil
	case ok && is(g.GranteePrincipal) && slices.Contains(g.Operations, "RetireGrant"):
		return nil
	}
	return s.decideOnKey(ctx, "kms:RetireGrant", g.KeyID, named)
}

// decideOnKey evaluates action on a key for the caller against the key's
// policy and the caller's identity policies (grants do not count).
func (s *Server) decideOnKey(ctx context.Context, action, keyID, named string) error {
	who, ok := callerFrom(ctx)
	if s.auth == nil && !ok {
		return nil
	}
	t := authzTarget{action: action, resource: s.keyARN(keyID), named: named, keyID: keyID}
	if !ok {
		return s.accessDenied(caller{}, t, false)
	}
	identity, err := s.callerPolicies(who)
	if err != nil {
		return err
	}
	r := &iam.Request{Principal: who.principal, Action: action, Resource: t.resource, Time: s.now()}
	d := iam.Evaluate(r, &iam.PolicySet{Resource: s.keyPolicyOf(keyID), Identity: identity, Session: who.session})
	if !d.Allowed() {
		return s.accessDenied(who, t, d.Explicit())
	}
	return nil
}

// callerGrants returns, as iam grants, the grants of a key whose grantee
// is the principal (or, for a role session, its role).
func (s *Server) callerGrants(keyID string, p *iam.Principal) []iam.Grant {
	gs, ok := s.store.(GrantStore)
	if keyID == "" || !ok {
		return nil
	}
	grants := gs.GrantsFor(keyID, p.ARN)
	if p.Type == iam.PrincipalRoleSession && p.RoleARN != "" {
		grants = append(slices.Clip(grants), gs.GrantsFor(keyID, p.RoleARN)...)
	}
	if len(grants) == 0 {
		return nil
	}
	out := make([]iam.Grant, len(grants))
	for i, g := range grants {
		out[i] = iam.Grant{ID: g.GrantID, KeyARN: s.keyARN(g.KeyID), GranteePrincipal: g.GranteePrincipal,
			Operations: g.Operations, EncryptionContextEquals: g.EncryptionContextEquals,
			EncryptionContextSubset: g.EncryptionContextSubset}
	}
	return out
}

// setGrantConditions sets the condition keys of a CreateGrant request:
// the new grant's operations, grantee, retiring principal, and its
// constraint as the encryption context with kms:GrantConstraintType.
func setGrantConditions(rc *iam.Context, req *kmsv1.CreateGrantRequest) {
	rc.Set("kms:GrantOperations", req.GetOperations()...)
	if g := req.GetGranteePrincipal(); g != "" {
		rc.Set("kms:GranteePrincipal", g)
	}
	if r := req.GetRetiringPrincipal(); r != "" {
		rc.Set("kms:RetiringPrincipal", r)
	}
	c := req.GetConstraints()
	switch {
	case len(c.GetEncryptionContextEquals()) > 0:
		rc.SetEncryptionContext(c.GetEncryptionContextEquals())
		rc.Set("kms:GrantConstraintType", "EncryptionContextEquals")
	case len(c.GetEncryptionContextSubset()) > 0:
		rc.SetEncryptionContext(c.GetEncryptionContextSubset())
		rc.Set("kms:GrantConstraintType", "EncryptionContextSubset")
	}
}
