// Package proto holds the .proto definitions of kmsd's public API
// (kms/v1) and of its replicated commands (kmsd/cluster/v1), together with the
// generated Go code, which is committed.
//
// Regenerate after editing a .proto file with
//
//	go generate ./proto
//
// which installs the pinned generator versions below into $(go env GOPATH)/bin
// and runs buf with local plugins only (no network access to a schema
// registry is needed).
package proto

//go:generate go install github.com/bufbuild/buf/cmd/buf@v1.75.0
//go:generate go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//go:generate go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//go:generate sh -c "cd .. && PATH=\"$(go env GOPATH)/bin:$PATH\" buf generate"
