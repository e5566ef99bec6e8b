package server

import (
	"context"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Key policies. Every key has one policy document, named "default" (the
// only name AWS KMS allows): the one CreateKey was given, or
// iam.DefaultKeyPolicy, which gives the account root every kms action and
// so lets identity policies decide. Keys made before key policies existed
// have an empty field and the default policy. Authorization (authz.go)
// evaluates every action on a key against the key's own policy.
//
// A policy is checked when it is written: it must parse as a key policy
// (MalformedPolicyDocumentException naming the bad element otherwise) and,
// unless BypassPolicyLockoutSafetyCheck is set, it must still allow the
// caller to call PutKeyPolicy on the key, as AWS's lockout safety check
// does. Policy documents are not secret: they are recorded in the audit
// log like any other parameter.

const defaultPolicyName = "default"

// errLockout is AWS KMS's answer to a policy that fails the lockout check.
var errLockout = &apiError{code: codes.InvalidArgument, name: excMalformedPolicy,
	message: "The new key policy will not allow you to update the key policy in the future."}

// PutKeyPolicy replaces a key's policy.
func (s *Server) PutKeyPolicy(ctx context.Context, req *kmsv1.PutKeyPolicyRequest) (*kmsv1.PutKeyPolicyResponse, error) {
	if err := validateKeyPolicyName(req.GetPolicyName()); err != nil {
		return nil, err
	}
	if req.GetPolicy() == "" {
		return nil, validationError("Policy is required.")
	}
	k, err := s.resolveKey(req.GetKeyId(), keyOnly)
	if err != nil {
		return nil, err
	}
	if err := s.checkKeyPolicy(ctx, k.ID, req.GetPolicy(), req.GetBypassPolicyLockoutSafetyCheck()); err != nil {
		return nil, err
	}
	m := &keystore.Mutation{Op: keystore.OpPutKeyPolicy, Time: s.now().UTC(), KeyID: k.ID, Policy: req.GetPolicy()}
	if err := s.propose(ctx, m); err != nil {
		return nil, err
	}
	return &kmsv1.PutKeyPolicyResponse{}, nil
}

// GetKeyPolicy returns a key's policy document.
func (s *Server) GetKeyPolicy(ctx context.Context, req *kmsv1.GetKeyPolicyRequest) (*kmsv1.GetKeyPolicyResponse, error) {
	if err := validateKeyPolicyName(req.GetPolicyName()); err != nil {
		return nil, err
	}
	k, err := s.resolveKey(req.GetKeyId(), keyOnly)
	if err != nil {
		return nil, err
	}
	return &kmsv1.GetKeyPolicyResponse{Policy: s.policyText(k), PolicyName: defaultPolicyName}, nil
}

// ListKeyPolicies lists the names of a key's policies: always "default".
func (s *Server) ListKeyPolicies(ctx context.Context, req *kmsv1.ListKeyPoliciesRequest) (*kmsv1.ListKeyPoliciesResponse, error) {
	if _, err := pageLimit(req.GetLimit(), 100, 1000); err != nil {
		return nil, err
	}
	if m := req.GetMarker(); m != "" {
		return nil, newAPIError(codes.InvalidArgument, excInvalidMarker, "The marker is not valid.")
	}
	if _, err := s.resolveKey(req.GetKeyId(), keyOnly); err != nil {
		return nil, err
	}
	return &kmsv1.ListKeyPoliciesResponse{PolicyNames: []string{defaultPolicyName}}, nil
}

func validateKeyPolicyName(name string) error {
	if name != "" && name != defaultPolicyName {
		return validationError("1 validation error detected: Value '%s' at 'policyName' failed to satisfy constraint: Member must be default", truncate(name, 128))
	}
	return nil
}

// policyText returns a key's policy document.
func (s *Server) policyText(k *keystore.Key) string {
	if k.Policy == "" {
		return iam.DefaultKeyPolicy(s.accountID)
	}
	return k.Policy
}

// keyPolicyOf returns the parsed policy of the key with the given id: its
// own, or the default for a key without one or that does not exist.
func (s *Server) keyPolicyOf(keyID string) *iam.Policy {
	k, err := s.store.Key(keyID)
	if err != nil || k.Policy == "" {
		return s.keyPolicy
	}
	p, err := s.policies.get(k.Policy, iam.KeyPolicy)
	if err != nil {
		// Policies are checked when written; one that no longer parses
		// allows nothing (without a key policy every action is denied).
		s.log.Error("stored key policy does not parse", "key", keyID, "err", err)
		return nil
	}
	return p
}

// checkKeyPolicy parses a new policy for the key keyID and, unless bypass
// is set, runs the lockout safety check: the caller must still be allowed
// kms:PutKeyPolicy on the key under the new policy (grants do not count).
func (s *Server) checkKeyPolicy(ctx context.Context, keyID, doc string, bypass bool) error {
	p, err := s.policies.get(doc, iam.KeyPolicy)
	if err != nil {
		return policyError(err)
	}
	who, ok := callerFrom(ctx)
	if bypass || s.auth == nil || !ok {
		return nil
	}
	identity, err := s.callerPolicies(who)
	if err != nil {
		return err
	}
	r := &iam.Request{Principal: who.principal, Action: "kms:PutKeyPolicy", Resource: s.keyARN(keyID), Time: s.now()}
	if !iam.Evaluate(r, &iam.PolicySet{Resource: p, Identity: identity, Session: who.session}).Allowed() {
		return errLockout
	}
	return nil
}
