package awsapi

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestSniffTLS: one port answers plain HTTP and TLS, and requests over
// TLS carry their TLS state.
func TestSniffTLS(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			io.WriteString(w, "tls")
			return
		}
		io.WriteString(w, "plain")
	}))
	ts.StartTLS() // makes the certificate; serve it through SniffTLS instead
	cert := ts.TLS.Certificates
	client := ts.Client()
	ts.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: ts.Config.Handler}
	go hs.Serve(SniffTLS(l, &tls.Config{Certificates: cert}))
	defer hs.Close()
	for _, c := range []struct {
		url, want string
		client    *http.Client
	}{
		{"http://" + l.Addr().String() + "/", "plain", http.DefaultClient},
		{"https://" + l.Addr().String() + "/", "tls", client},
		{"http://" + l.Addr().String() + "/", "plain", http.DefaultClient},
	} {
		resp, err := c.client.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != c.want {
			t.Fatalf("%s: %q, want %q", c.url, b, c.want)
		}
	}
}
