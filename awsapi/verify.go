package awsapi

import (
	"crypto/hmac"
	"net/http"
	"slices"
	"strings"
	"time"
)

// signingCredential is what the verifier needs of a credential
// (server.Credential): the signing key of a scope, derived from a secret
// that stays in the server, and what the credential is.
type signingCredential interface {
	SigV4Key(date, region, service string) []byte
	Known() bool
	Expired() bool
}

// verifier checks the SigV4 signature of requests to one region and
// service.
type verifier struct {
	region, service string
	now             func() time.Time
	lookup          func(accessKeyID, token string) signingCredential
}

// Exceptions of authentication, with AWS's names.
const (
	excMissingToken  = "MissingAuthenticationTokenException"
	excIncomplete    = "IncompleteSignature"
	excInvalidSig    = "InvalidSignatureException"
	excUnrecognized  = "UnrecognizedClientException"
	excExpiredToken  = "ExpiredTokenException"
	msgSigMismatch   = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgUnrecognized  = "The security token included in the request is invalid."
	msgExpiredToken  = "The security token included in the request is expired"
	headerTarget     = "X-Amz-Target"
	headerDate       = "X-Amz-Date"
	headerToken      = "X-Amz-Security-Token"
	headerAuthorize  = "Authorization"
	headerRequestID  = "X-Amzn-Requestid"
	headerErrorType  = "X-Amzn-Errortype"
	contentTypeJSON  = "application/x-amz-json-1.1"
	targetPrefix     = "TrentService."
	signedHostHeader = "host"
)

// verified is the outcome of checking a request's signature: the
// credential it names (nil if the header did not parse) and, if the
// request is refused, why.
type verified struct {
	cred      signingCredential
	accessKey string
	err       *awsError
}

// verify checks r's signature over body.
func (v *verifier) verify(r *http.Request, body []byte) verified {
	authz := r.Header.Get(headerAuthorize)
	if authz == "" {
		return verified{err: newError(http.StatusBadRequest, excMissingToken, "Missing Authentication Token")}
	}
	for _, h := range []string{headerAuthorize, headerDate, headerToken} {
		if len(r.Header.Values(h)) > 1 {
			return verified{err: newError(http.StatusBadRequest, excIncomplete, "The request has more than one "+h+" header.")}
		}
	}
	a, err := parseAuthorization(authz)
	if err != nil {
		return verified{err: newError(http.StatusBadRequest, excIncomplete, msgOf(err))}
	}
	out := verified{accessKey: a.accessKeyID}
	refuse := func(name, msg string) verified {
		out.err = newError(http.StatusBadRequest, name, msg)
		return out
	}
	amzDate := r.Header.Get(headerDate)
	if amzDate == "" {
		return refuse(excIncomplete, "Authorization header requires existence of a 'X-Amz-Date' header.")
	}
	t, err := time.Parse(amzDateFmt, amzDate)
	if err != nil || len(amzDate) != len(amzDateFmt) { // time.Parse takes fractional seconds too
		return refuse(excIncomplete, "X-Amz-Date must be in the ISO-8601 basic format YYYYMMDD'T'HHMMSS'Z'.")
	}
	token := r.Header.Get(headerToken)
	for _, h := range []string{signedHostHeader, "x-amz-date", "x-amz-target"} {
		if !slices.Contains(a.signedHeaders, h) {
			return refuse(excIncomplete, "'"+h+"' must be a 'SignedHeader' in the AWS Authorization.")
		}
	}
	if token != "" && !slices.Contains(a.signedHeaders, "x-amz-security-token") {
		return refuse(excIncomplete, "'x-amz-security-token' must be a 'SignedHeader' in the AWS Authorization.")
	}
	switch {
	case a.terminal != "aws4_request":
		return refuse(excIncomplete, "Credential should be scoped with a valid terminator: 'aws4_request', not '"+clip(a.terminal)+"'.")
	case a.service != v.service:
		return refuse(excInvalidSig, "Credential should be scoped to correct service: '"+v.service+"'.")
	case a.region != v.region:
		return refuse(excInvalidSig, "Credential should be scoped to a valid region, not '"+clip(a.region)+"'.")
	case a.date != t.Format("20060102"):
		return refuse(excInvalidSig, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '"+
			clip(a.date)+"' != '"+t.Format("20060102")+"', from '"+amzDate+"'.")
	}
	now := v.now().UTC()
	switch {
	case t.Before(now.Add(-maxSkew)):
		return refuse(excInvalidSig, "Signature expired: "+amzDate+" is now earlier than "+
			now.Add(-maxSkew).Format(amzDateFmt)+" ("+now.Format(amzDateFmt)+" - 5 min.)")
	case t.After(now.Add(maxSkew)):
		return refuse(excInvalidSig, "Signature not yet current: "+amzDate+" is still later than "+
			now.Add(maxSkew).Format(amzDateFmt)+" ("+now.Format(amzDateFmt)+" + 5 min.)")
	}
	out.cred = v.lookup(a.accessKeyID, token)
	// The same work whatever the credential: the key is derived and the
	// signature computed for an unknown one too.
	want := signature(out.cred.SigV4Key(a.date, a.region, a.service), stringToSign(r, body, &a, amzDate))
	match := hmac.Equal(want, a.signature)
	switch {
	case !out.cred.Known():
		return refuse(excUnrecognized, msgUnrecognized)
	case !match:
		return refuse(excInvalidSig, msgSigMismatch)
	case out.cred.Expired():
		return refuse(excExpiredToken, msgExpiredToken)
	}
	return out
}

// msgOf is the message of a parse error, without its package prefix.
func msgOf(err error) string {
	return strings.TrimPrefix(err.Error(), errIncomplete.Error()+": ")
}
