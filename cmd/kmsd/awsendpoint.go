package main

import (
	"log/slog"
	"net"
	"net/http"

	"github.com/kmsd/kmsd/awsapi"
	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/server"
)

// handleAWS adds the AWS-compatible KMS API (POST /, package awsapi) to
// the HTTP mux.
func handleAWS(mux *http.ServeMux, c Config, srv *server.Server, log *slog.Logger) error {
	h, err := awsapi.New(awsapi.Config{Server: srv, Region: c.Region, AllowPlainHTTP: c.AWSAllowPlainHTTP,
		Logger: log.With("component", "awsapi")})
	if err != nil {
		return err
	}
	mux.Handle("POST /{$}", h)
	return nil
}

// httpListener serves TLS on the HTTP port when certificates are
// configured (plain HTTP still answers health checks and metrics there).
func httpListener(l net.Listener, tlsConf *cluster.TLSConfig) net.Listener {
	if tlsConf == nil {
		return l
	}
	return awsapi.SniffTLS(l, tlsConf.APIConfig())
}
