package server

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/kmsd/kmsd/auth"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// BenchmarkServerAuthCost: the server's cost of authentication and
// authorization on GenerateDataKey at 64 callers, without the client's:
// each caller signs its request once and sends the same signed call again
// (a signature stays valid for five minutes), so ns/op differs between the
// variants only by what the server does. Compare, in one run, none (no
// authentication, every call the root's), root (signed by the account
// root: authentication and the key policy) and user (an IAM user with an
// identity policy: an access key unwrapped, identity policies resolved).
func BenchmarkServerAuthCost(b *testing.B) {
	for _, who := range []string{"none", "root", "user"} {
		b.Run(who, func(b *testing.B) {
			a := newAuthServer(b, func(c *Config) { c.Authenticate = who != "none"; c.DisableAudit = true; c.RateLimits = RateLimits{} })
			ctx := context.Background()
			creds := a.root
			rootConn := a.conn(b)
			if who != "none" {
				rootConn = a.signed(b, a.root, a.clock.Now)
			}
			k, err := kmsv1.NewKeyManagementServiceClient(rootConn).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
			if err != nil {
				b.Fatal(err)
			}
			keyID := k.GetKeyMetadata().GetKeyId()
			if who == "user" {
				admin := kmsv1.NewIdentityManagementServiceClient(rootConn)
				if _, err := admin.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: "app"}); err != nil {
					b.Fatal(err)
				}
				if _, err := admin.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: "app", PolicyName: "use",
					PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"*"}]}`}); err != nil {
					b.Fatal(err)
				}
				ak, err := admin.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: "app"})
				if err != nil {
					b.Fatal(err)
				}
				creds = auth.Credentials{AccessKeyID: ak.GetAccessKey().GetAccessKeyId(), SecretAccessKey: ak.GetAccessKey().GetSecretAccessKey()}
			}
			req := &kmsv1.GenerateDataKeyRequest{KeyId: keyID, NumberOfBytes: 32}
			callCtx := ctx
			if who != "none" {
				if callCtx, err = (&auth.Signer{Creds: creds, Now: a.clock.Now}).Sign(ctx, "/kms.v1.KeyManagementService/GenerateDataKey", req); err != nil {
					b.Fatal(err)
				}
			}
			client := kmsv1.NewKeyManagementServiceClient(a.conn(b))
			if _, err := client.GenerateDataKey(callCtx, req); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(32) // 64 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := client.GenerateDataKey(callCtx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkAuthSteps measures, at 64 callers, the server's two steps on
// a signed GenerateDataKey: authenticate (parse, look up, verify
// the signature) and authorize (policies of the key and of the caller),
// for the root and for an IAM user with an identity policy, beside the
// handler itself. Against the none variant of BenchmarkServerAuthCost
// (the whole call without them, same callers), a step's ns/op is the share
// of throughput it takes: step / (none + step).
func BenchmarkAuthSteps(b *testing.B) {
	a := newAuthServer(b, func(c *Config) { c.DisableAudit = true; c.RateLimits = RateLimits{} })
	ctx := context.Background()
	rootConn := a.signed(b, a.root, a.clock.Now)
	k, err := kmsv1.NewKeyManagementServiceClient(rootConn).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		b.Fatal(err)
	}
	admin := kmsv1.NewIdentityManagementServiceClient(rootConn)
	if _, err := admin.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: "app"}); err != nil {
		b.Fatal(err)
	}
	if _, err := admin.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: "app", PolicyName: "use",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"*"}]}`}); err != nil {
		b.Fatal(err)
	}
	ak, err := admin.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: "app"})
	if err != nil {
		b.Fatal(err)
	}
	user := auth.Credentials{AccessKeyID: ak.GetAccessKey().GetAccessKeyId(), SecretAccessKey: ak.GetAccessKey().GetSecretAccessKey()}
	const method = "/kms.v1.KeyManagementService/GenerateDataKey"
	req := &kmsv1.GenerateDataKeyRequest{KeyId: k.GetKeyMetadata().GetKeyId(), NumberOfBytes: 32}
	for _, c := range []struct {
		name  string
		creds auth.Credentials
	}{{"root", a.root}, {"user", user}} {
		out, err := (&auth.Signer{Creds: c.creds, Now: a.clock.Now}).Sign(ctx, method, req)
		if err != nil {
			b.Fatal(err)
		}
		md, _ := metadata.FromOutgoingContext(out)
		in := metadata.NewIncomingContext(ctx, md)
		who, err := a.srv.auth.authenticate(in, method, req)
		if err != nil {
			b.Fatal(err)
		}
		withWho := withCaller(in, who)
		b.Run("authenticate/"+c.name, func(b *testing.B) {
			parallel(b, func() error { _, err := a.srv.auth.authenticate(in, method, req); return err })
		})
		b.Run("authorize/"+c.name, func(b *testing.B) {
			parallel(b, func() error { return a.srv.authorize(withWho, method, req) })
		})
	}
	b.Run("handler", func(b *testing.B) {
		parallel(b, func() error { _, err := a.srv.GenerateDataKey(ctx, req); return err })
	})
}

// parallel runs step from 64 goroutines on 2 cores, as the callers of
// BenchmarkServerAuthCost, so that the ns/op of both compare directly.
func parallel(b *testing.B, step func() error) {
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := step(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
