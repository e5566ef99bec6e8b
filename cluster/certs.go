package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// CA is a certificate authority for one cluster: it issues the members'
// certificates (which name PeerName) and client certificates for the API.
// For production, an organisation's own PKI can issue the same shapes; this
// is enough for a test cluster or a small deployment.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// backdate lets certificates be used at once on members whose clocks are a
// little behind.
const backdate = 5 * time.Minute

// NewCA creates a CA with an ECDSA P-256 key, valid for validity.
func NewCA(name string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"kmsd"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// LoadCA reads a CA written by WriteFiles.
func LoadCA(certFile, keyFile string) (*CA, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cp, _ := pem.Decode(cb)
	kp, _ := pem.Decode(kb)
	if cp == nil || cp.Type != "CERTIFICATE" || kp == nil || kp.Type != "PRIVATE KEY" {
		return nil, errors.New("cluster: CA files are not a PEM certificate and PKCS #8 private key")
	}
	cert, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kp.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !cert.IsCA {
		return nil, errors.New("cluster: not a CA certificate and key")
	}
	return &CA{Cert: cert, Key: signer}, nil
}

// CertPEM returns the CA certificate, PEM-encoded: the file members and
// clients verify against.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// WriteFiles writes the CA certificate (mode 0644) and key (mode 0600;
// refused if the file exists).
func (ca *CA) WriteFiles(certFile, keyFile string) error {
	kp, err := keyPEM(ca.Key)
	if err != nil {
		return err
	}
	return writePair(certFile, ca.CertPEM(), keyFile, kp)
}

// IssueNodeCert issues a member certificate for nodeID: it names PeerName
// and each of hosts (DNS names or IP addresses, which clients use to reach
// the member's API), and serves both as server and client certificate.
func (ca *CA) IssueNodeCert(nodeID string, hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if nodeID == "" {
		return nil, nil, errors.New("cluster: a node certificate needs a node id")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: nodeID, Organization: []string{"kmsd"}},
		DNSNames:    []string{PeerName},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue(tmpl, validity)
}

// IssueClientCert issues a client certificate for the API, with name as
// its subject's common name. It does not name PeerName, so it opens
// neither the Raft port nor forwarding.
//
// With a principal (an IAM user's ARN, arn:aws:iam::ACCOUNT:user/NAME),
// the certificate names it and the user's unique id (userID, "AIDA…") as
// URI subject alternative names (the id as UserIDURIPrefix+ID), and kmsd
// takes an unsigned call made with the certificate as a call of that user
// (server.Config.Authenticate) — of that user only: a user deleted and
// made again under the same name has another id. Without a principal, the
// certificate only opens the TLS connection; calls must still be signed.
func (ca *CA) IssueClientCert(name, principal, userID string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if name == "" {
		return nil, nil, errors.New("cluster: a client certificate needs a name")
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"kmsd"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if principal != "" || userID != "" {
		u, err := url.Parse(principal)
		if err != nil || u.Scheme != "arn" || !strings.HasPrefix(u.Opaque, "aws:iam::") || !strings.Contains(u.Opaque, ":user/") {
			return nil, nil, fmt.Errorf("cluster: the principal %q is not an IAM user's ARN (arn:aws:iam::ACCOUNT:user/NAME)", principal)
		}
		if len(userID) < 16 || len(userID) > 128 || strings.Trim(userID, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			return nil, nil, fmt.Errorf("cluster: the user id %q is not an IAM user id (AIDA…, see kmsctl iam get-user)", userID)
		}
		id, err := url.Parse(UserIDURIPrefix + userID)
		if err != nil {
			return nil, nil, err
		}
		tmpl.URIs = []*url.URL{u, id}
	}
	return ca.issue(tmpl, validity)
}

// UserIDURIPrefix starts the URI that names an IAM user's unique id in a
// client certificate.
const UserIDURIPrefix = "urn:kmsd:iam-user-id:"

func (ca *CA) issue(tmpl *x509.Certificate, validity time.Duration) ([]byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-backdate), now.Add(validity)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: issue certificate: %w", err)
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), kp, nil
}

// WriteCertFiles writes a certificate (0644) and its key (0600; refused if
// the key file exists).
func WriteCertFiles(certFile string, certPEM []byte, keyFile string, keyPEM []byte) error {
	return writePair(certFile, certPEM, keyFile, keyPEM)
}

func writePair(certFile string, certPEM []byte, keyFile string, keyPEM []byte) error {
	kf, err := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := kf.Write(keyPEM); err != nil {
		kf.Close()
		return err
	}
	if err := kf.Close(); err != nil {
		return err
	}
	return os.WriteFile(certFile, certPEM, 0o644)
}

func keyPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}
