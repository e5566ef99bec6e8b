package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// caller drives one operation for one worker. call does the RPC and nothing
// else, so that only it is timed; check then validates the response it got.
// A caller reuses its request: calls allocate only what gRPC does.
type caller interface {
	call(ctx context.Context) error
	// check validates the last successful response, counting anything wrong
	// on w, and keeps it as a sample for the final decrypt pass if keep.
	check(w *worker, keep bool)
}

// sample is a ciphertext with the plaintext and key id it must decrypt to.
type sample struct {
	blob, plaintext []byte
	keyID           string
}

func newCaller(cfg *benchConfig, client kmsv1.KeyManagementServiceClient, pool []sample, worker int) caller {
	switch cfg.Op {
	case OpGenerateDataKey:
		return &dataKeyCaller{client: client, overhead: cfg.CiphertextOverhead,
			req: &kmsv1.GenerateDataKeyRequest{KeyId: cfg.KeyID, KeySpec: "AES_256"}}
	case OpEncrypt:
		pt := make([]byte, cfg.PlaintextSize)
		rand.Read(pt)
		return &encryptCaller{client: client, overhead: cfg.CiphertextOverhead,
			req: &kmsv1.EncryptRequest{KeyId: cfg.KeyID, Plaintext: pt}}
	case OpDecrypt:
		return &decryptCaller{client: client, pool: pool, next: worker, stride: cfg.Concurrency,
			req: &kmsv1.DecryptRequest{}}
	case OpCreateKey:
		return &createKeyCaller{client: client, req: &kmsv1.CreateKeyRequest{Description: "kmsbench"}}
	}
	panic("kmsbench: unknown op " + string(cfg.Op))
}

type dataKeyCaller struct {
	client   kmsv1.KeyManagementServiceClient
	overhead int
	req      *kmsv1.GenerateDataKeyRequest
	resp     *kmsv1.GenerateDataKeyResponse
}

func (c *dataKeyCaller) call(ctx context.Context) (err error) {
	c.resp, err = c.client.GenerateDataKey(ctx, c.req)
	return err
}

func (c *dataKeyCaller) check(w *worker, keep bool) {
	r := c.resp
	switch {
	case len(r.Plaintext) != dataKeyBytes:
		w.wrongf("GenerateDataKey: plaintext is %d bytes, want %d", len(r.Plaintext), dataKeyBytes)
	case c.overhead != 0 && len(r.CiphertextBlob) != c.overhead+dataKeyBytes:
		w.wrongf("GenerateDataKey: ciphertext is %d bytes, want %d", len(r.CiphertextBlob), c.overhead+dataKeyBytes)
	case r.KeyId == "":
		w.wrongf("GenerateDataKey: empty KeyId")
	case keep:
		w.keep(sample{r.CiphertextBlob, r.Plaintext, r.KeyId})
	}
}

type encryptCaller struct {
	client   kmsv1.KeyManagementServiceClient
	overhead int
	req      *kmsv1.EncryptRequest
	resp     *kmsv1.EncryptResponse
}

func (c *encryptCaller) call(ctx context.Context) (err error) {
	c.resp, err = c.client.Encrypt(ctx, c.req)
	return err
}

func (c *encryptCaller) check(w *worker, keep bool) {
	r, n := c.resp, len(c.req.Plaintext)
	switch {
	case c.overhead != 0 && len(r.CiphertextBlob) != c.overhead+n:
		w.wrongf("Encrypt: ciphertext is %d bytes, want %d", len(r.CiphertextBlob), c.overhead+n)
	case r.KeyId == "":
		w.wrongf("Encrypt: empty KeyId")
	case keep:
		w.keep(sample{r.CiphertextBlob, c.req.Plaintext, r.KeyId})
	}
}

// createKeyCaller creates keys: a mutation committed through Raft.
type createKeyCaller struct {
	client kmsv1.KeyManagementServiceClient
	req    *kmsv1.CreateKeyRequest
	resp   *kmsv1.CreateKeyResponse
}

func (c *createKeyCaller) call(ctx context.Context) (err error) {
	c.resp, err = c.client.CreateKey(ctx, c.req)
	return err
}

func (c *createKeyCaller) check(w *worker, _ bool) {
	md := c.resp.GetKeyMetadata()
	switch {
	case md.GetKeyId() == "":
		w.wrongf("CreateKey: no key id")
	case md.GetKeyState() != "Enabled":
		w.wrongf("CreateKey: key state %q, want Enabled", md.GetKeyState())
	}
}

// decryptCaller walks the shared pool; worker i of n takes i, i+n, ...
type decryptCaller struct {
	client       kmsv1.KeyManagementServiceClient
	pool         []sample
	next, stride int
	cur          *sample
	req          *kmsv1.DecryptRequest
	resp         *kmsv1.DecryptResponse
}

func (c *decryptCaller) call(ctx context.Context) (err error) {
	c.cur = &c.pool[c.next%len(c.pool)]
	c.next += c.stride
	c.req.CiphertextBlob = c.cur.blob
	c.resp, err = c.client.Decrypt(ctx, c.req)
	return err
}

func (c *decryptCaller) check(w *worker, _ bool) {
	checkDecrypted(w, "Decrypt", c.resp, c.cur)
}

func checkDecrypted(w *worker, what string, r *kmsv1.DecryptResponse, s *sample) {
	switch {
	case !bytes.Equal(r.Plaintext, s.plaintext):
		w.wrongf("%s: plaintext differs from the one encrypted", what)
	case r.KeyId != s.keyID:
		w.wrongf("%s: KeyId %q, want %q", what, r.KeyId, s.keyID)
	}
}

// decryptPoolSize is how many ciphertexts the Decrypt run cycles through.
const decryptPoolSize = 1024

// makePool encrypts decryptPoolSize random plaintexts for the Decrypt run.
func makePool(ctx context.Context, cfg *benchConfig, clients []kmsv1.KeyManagementServiceClient) ([]sample, error) {
	pool := make([]sample, decryptPoolSize)
	g := min(len(pool), max(cfg.Concurrency, 16))
	errs := make([]error, g)
	var wg sync.WaitGroup
	for j := range g {
		wg.Go(func() {
			client := clients[j%len(clients)]
			for i := j; i < len(pool) && errs[j] == nil; i += g {
				pool[i], errs[j] = encryptOne(ctx, cfg, client)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("make Decrypt pool: %w", err)
		}
	}
	return pool, nil
}

func encryptOne(ctx context.Context, cfg *benchConfig, client kmsv1.KeyManagementServiceClient) (sample, error) {
	pt := make([]byte, cfg.PlaintextSize)
	rand.Read(pt)
	r, err := client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: cfg.KeyID, Plaintext: pt})
	if err != nil {
		return sample{}, fmt.Errorf("Encrypt: %v", err)
	}
	if cfg.CiphertextOverhead != 0 && len(r.CiphertextBlob) != cfg.CiphertextOverhead+len(pt) {
		return sample{}, fmt.Errorf("Encrypt: ciphertext is %d bytes, want %d", len(r.CiphertextBlob), cfg.CiphertextOverhead+len(pt))
	}
	return sample{r.CiphertextBlob, pt, r.KeyId}, nil
}
