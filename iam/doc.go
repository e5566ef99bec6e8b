// Package iam decides who may do what in kmsd: principals, policy documents
// in AWS's JSON grammar, grants, and their evaluation. It is pure: it does
// no IO, keeps no state and imports nothing else of kmsd. The server
// authenticates the caller, loads the policies that apply and calls
// Evaluate (or Authorize) before it does anything else.
//
// # Use
//
// Parse a policy when it is written, keep the *Policy with the document, and
// evaluate requests against parsed policies:
//
//	p, err := iam.Parse(doc, iam.KeyPolicy) // *PolicyError names the bad element
//	p.Name = "key-policy"
//	req := &iam.Request{Principal: caller, Action: "kms:Decrypt", Resource: keyARN, Time: now}
//	req.Context.Set("aws:SourceIp", ip)
//	req.Context.SetEncryptionContext(ec)
//	d := iam.Evaluate(req, &iam.PolicySet{Resource: p, Identity: userPolicies, Grants: keyGrants})
//	if !d.Allowed() { ... AccessDeniedException; log d.String() ... }
//
// # Policy documents
//
// A document is a JSON object with Version ("2012-10-17" or "2008-10-17";
// missing means 2008-10-17), Id (a string) and Statement (one statement
// object or a non-empty list of them). A statement has:
//
//   - Sid: a string, unique within the document when present.
//   - Effect: "Allow" or "Deny" (case-sensitive).
//   - Principal or NotPrincipal: "*", or an object whose "AWS" member is a
//     string or list of "*", 12-digit account ids and ARNs
//     (arn:aws:iam::ACCOUNT:root, :user/[PATH/]NAME, :role/[PATH/]NAME,
//     arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION) and whose "Service"
//     member names service principals ("logs.amazonaws.com"). An account
//     id means the account's root. Wildcards other than "*" are refused:
//     use a condition on aws:PrincipalArn. Required in key and trust
//     policies, forbidden in identity policies.
//   - Action or NotAction: a string or list of "*" or "service:Operation",
//     with * and ? wildcards in the operation. Action names compare
//     case-insensitively (ASCII only). The services are kms, iam, sts and
//     kmsd (kmsd's audit log and cluster: kmsd:LookupEvents, GetEvents,
//     TailEvents, GetSignedTreeHeads, SignTreeHead, GetInclusionProof,
//     GetConsistencyProof, GetPublicKey, GetClusterStatus, RemoveMember). An
//     operation named without wildcards must exist (see Actions). Key
//     policies admit only kms actions, trust policies only sts actions.
//   - Resource or NotResource: a string or list of "*" or ARN patterns
//     with * and ? wildcards, compared case-sensitively; a wildcard may
//     match across ':' and '/'. Required in key and identity policies (in
//     a key policy "*" means the key), forbidden in trust policies.
//   - Condition: {operator: {key: value or list of values}}; see below.
//
// Exactly one of each pair must be present. Unknown fields, duplicate
// fields (at any level), field names in the wrong case, empty strings and
// empty lists are errors.
//
// Policy variables ${key} may appear in Resource values and in the values
// of String and Arn conditions, in Version 2012-10-17 documents only. A
// variable takes the request's value of the condition key if it has
// exactly one; otherwise the value that holds it matches nothing. The
// substituted text is literal: a '*' in a user name is not a wildcard.
// ${*}, ${?} and ${$} stand for the characters; default values
// (${key, 'default'}) are not supported.
//
// # Limits
//
// Parse refuses, before decoding anything, a document over MaxPolicySize
// bytes (32 KiB, AWS's limit for key policies), nested deeper than MaxDepth,
// holding more than MaxElements JSON values, or denser than 64 values plus
// one per 8 bytes (the shapes that expand most when decoded, such as long
// lists of one-character strings); it refuses more than MaxStatements
// statements while decoding. The scan that enforces these allocates
// nothing, so a JSON bomb costs one pass over at most 32 KiB. The decoder
// is a small hand-written one: strings are slices of the document and
// lists are allocated once, so an accepted document costs less than ten
// times its size in memory (up to twelve for a document made of hundreds
// of minimal statements).
//
// # Conditions
//
// Operators: StringEquals, StringNotEquals, StringEqualsIgnoreCase,
// StringNotEqualsIgnoreCase, StringLike, StringNotLike; NumericEquals,
// NumericNotEquals, NumericLessThan, NumericLessThanEquals,
// NumericGreaterThan, NumericGreaterThanEquals; DateEquals, DateNotEquals,
// DateLessThan, DateLessThanEquals, DateGreaterThan, DateGreaterThanEquals
// (values in RFC 3339, YYYY-MM-DD or epoch seconds); Bool; IpAddress,
// NotIpAddress (an address or CIDR block; IPv4-mapped IPv6 addresses are
// their IPv4 address); ArnEquals, ArnLike, ArnNotEquals, ArnNotLike (both
// spellings match with wildcards, each of the six colon-separated parts on
// its own); Null. Any but Null takes the suffix IfExists and the prefix
// ForAllValues: or ForAnyValue:. Operator names are case-sensitive.
// IgnoreCase folds ASCII letters only; StringLike and ArnLike take * and ?.
// Values compare case-sensitively otherwise. Values in the policy may be
// strings, numbers or booleans; bad values (a Numeric value that is not a
// number, a Bool value other than true/false …) are errors when parsing.
//
// Condition key names are case-insensitive, except the part after
// "kms:EncryptionContext:", which is the encryption context key and
// case-sensitive. Any "service:name" key is accepted; the request
// context supplies values (see Context). The keys aws:PrincipalArn (the
// role's ARN for a role session), aws:PrincipalAccount, aws:PrincipalType
// (Account, User, AssumedRole, AWSService), aws:username (users only),
// aws:userid, kms:CallerAccount, aws:CurrentTime and aws:EpochTime are
// taken from the Request; the server sets the others, such as
// aws:SourceIp, aws:SecureTransport, aws:MultiFactorAuthPresent,
// aws:MultiFactorAuthAge, kms:EncryptionContext:KEY and
// kms:EncryptionContextKeys (SetEncryptionContext sets both),
// kms:GrantOperations, kms:GranteePrincipal, kms:RetiringPrincipal,
// kms:GrantConstraintType, kms:GrantIsForAWSResource, kms:KeySpec,
// kms:KeyUsage, kms:KeyOrigin, kms:ViaService, kms:RequestAlias,
// kms:ResourceAliases, kms:EncryptionAlgorithm and kms:DataKeyPairSpec.
//
// A condition on one key holds, with V the request's values of the key:
//
//   - Null: true when any policy value is "true" and V is empty (the key is
//     absent or has no values), or "false" and V is not empty.
//   - V empty: true with IfExists or ForAllValues:, false with
//     ForAnyValue:; otherwise true for the negated operators (StringNot…,
//     NumericNotEquals, DateNotEquals, NotIpAddress, ArnNot…) and false for
//     the others.
//   - ForAllValues:OP: every value in V satisfies OP;
//     ForAnyValue:OP: some value in V satisfies OP. A value satisfies a
//     positive operator when it matches some policy value, and a negated
//     operator when it matches none.
//   - OP without qualifier: a positive operator holds when some value in V
//     matches some policy value; a negated operator when none does.
//
// A request value that does not parse as the operator's type (a number,
// date, boolean or IP address) matches no policy value. The policy values
// of one key are OR'd; the keys of one operator and the operators of one
// Condition are AND'd.
//
// # Evaluation
//
// A Request has a Principal (the account root, a user, a role session or
// a service), an Action, a Resource, a Time and a Context. A PolicySet has
// the resource policy (the key policy for actions on a key, the role's
// trust policy for sts:AssumeRole), the principal's identity policies (a
// user's inline and attached policies and those of its groups, or a role's
// policies), an optional session policy, and the grants on the key.
//
// A statement applies to a request when its Action (NotAction) matches
// (does not match) the action, its Resource (NotResource) matches (does not
// match) the resource, every condition holds, and, in a key or trust
// policy, its Principal names the principal or its NotPrincipal does not.
// A Principal names a principal when it is "*", its own ARN, the role of a
// role session, or, for the account root, its account; it names every
// other principal of an account it lists "through the account". A grant
// applies when its grantee is the principal's ARN or the role of a role
// session, its operations hold the action's name, and its constraint holds.
//
// Evaluate decides in this order; the first rule that fires decides:
//
//  1. A malformed request (unknown action, principal without type, account
//     or ARN, resource that is neither "*" nor a canonical ARN) is denied.
//  2. sts:GetCallerIdentity is allowed, as in AWS.
//  3. A Deny statement that applies, in the resource policy (including one
//     naming the account), the session policy or any identity policy, denies
//     (explicit deny). Nothing overrides it, grants included.
//  4. An action that needs a resource policy (every kms action on a key,
//     and sts:AssumeRole; see NeedsResourcePolicy) is denied without one.
//  5. An Allow statement in the resource policy that names the principal
//     itself (not through the account) allows.
//  6. A grant that applies allows.
//  7. The identity layer: the account root holds every identity permission;
//     any other principal needs an Allow statement that applies in one of
//     its identity policies. When there is a resource policy, this counts
//     only if an Allow statement of the resource policy that applies names
//     the principal's account (AWS's "the key policy enables IAM
//     policies"); the root itself is never allowed this way (it must be
//     named in the resource policy, which the default key policy does).
//     When there is no resource policy, the identity layer decides alone.
//  8. Otherwise the request is denied (default deny).
//
// A session policy limits a role session: when one is given, an allow from
// rules 5, 6 or 7 counts only if an Allow statement of the session policy
// also applies, except a resource policy statement or grant that names the
// exact session ARN (AWS does not limit those). Permission boundaries,
// service control policies and cross-account access are not modelled: kmsd
// serves one account.
//
// Evaluate allocates nothing in the common case (policy variables and
// times formatted for String operators excepted) and takes well under two
// microseconds for a typical key user's request. Wildcard matching backtracks
// only to the last '*', so a request costs at most the policy size times the
// length of the longest request value; the server bounds request values.
//
// The Decision says which statement (policy Name, Sid and index) or grant
// decided, and why (Reason); for an identity allow on a key, Via names the
// key policy statement that enabled it. The effect does not depend on the
// order of statements, policies or grants; which statement is named when
// several apply does.
//
// # Grants
//
// A Grant lets its grantee call its operations on one key. An
// EncryptionContextEquals constraint requires the request's encryption
// context to equal it, an EncryptionContextSubset constraint requires the
// request's encryption context to hold its pairs; both compare keys and
// values case-sensitively (AWS compares constraint keys case-insensitively;
// kmsd is stricter). Constraints apply to the operations that take an
// encryption context, not to DescribeKey and RetireGrant. For CreateGrant
// the server passes the new grant's constraint as the encryption context
// and its type as kms:GrantConstraintType: a constrained grant allows
// creating only grants at least as strict (the same Equals map, or a
// constraint holding every pair of the Subset map). Grant.Validate checks a
// grant before CreateGrant stores it.
//
// # Predefined policies
//
// DefaultKeyPolicy is AWS's default key policy: statement "Enable IAM User
// Permissions" allows the account root kms:* on the key, which also
// enables identity policies. The managed identity policies (ManagedPolicies)
// are KeyAdministrator (life cycle, aliases, rotation, import, key
// policies, grants and tags; no cryptographic use), KeyUser (Encrypt,
// Decrypt, ReEncrypt*, GenerateDataKey*, DescribeKey) and Auditor (key
// metadata, policies, grants, tags and the kmsd audit log reads; no use or
// change of keys).
//
// # Names
//
// Action names are case-insensitive, as in AWS. ARNs, condition values
// and encryption context keys are compared byte for byte: a name that
// differs in case, in a Unicode look-alike character, in padding, or by a
// trailing "/" or a "." or ".." segment is a different name, and requests
// whose resource is such a non-canonical ARN are refused outright. Nothing
// is folded beyond ASCII.
//
// # Not supported
//
// Federated and CanonicalUser principals; wildcards in principals other
// than "*"; policy variable defaults; permission boundaries, SCPs and
// cross-account evaluation; the aws:RequestTag/aws:ResourceTag keys are
// ordinary context keys that the server must fill if it wants them.
package iam
