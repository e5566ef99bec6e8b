package awsapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestSDKEveryOperation drives every KeyManagementService operation
// through the AWS SDK for Go v2 against the endpoint, checking each
// answer, and fails if an operation of the service was not called.
func TestSDKEveryOperation(t *testing.T) {
	e := newTestEnv(t)
	c := e.sdk(e.root)
	ctx := context.Background()
	called := map[string]bool{}
	must := func(op string, err error) {
		t.Helper()
		called[op] = true
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
	}

	ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("app key"),
		Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("payments")}}})
	must("CreateKey", err)
	md := ck.KeyMetadata
	keyID := aws.ToString(md.KeyId)
	if md.KeyState != types.KeyStateEnabled || !md.Enabled || aws.ToString(md.Description) != "app key" ||
		md.CreationDate == nil || time.Since(*md.CreationDate) > time.Minute || md.KeySpec != types.KeySpecSymmetricDefault {
		t.Fatalf("CreateKey metadata: %+v", md)
	}
	dk, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	must("DescribeKey", err)
	if aws.ToString(dk.KeyMetadata.Arn) != aws.ToString(md.Arn) || !dk.KeyMetadata.CreationDate.Equal(*md.CreationDate) {
		t.Fatalf("DescribeKey: %+v", dk.KeyMetadata)
	}
	_, err = c.UpdateKeyDescription(ctx, &kms.UpdateKeyDescriptionInput{KeyId: aws.String(keyID), Description: aws.String("renamed")})
	must("UpdateKeyDescription", err)
	_, err = c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(keyID)})
	must("DisableKey", err)
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
	var disabled *types.DisabledException
	if !errors.As(err, &disabled) {
		t.Fatalf("Encrypt with a disabled key: %v, want DisabledException", err)
	}
	_, err = c.EnableKey(ctx, &kms.EnableKeyInput{KeyId: aws.String(keyID)})
	must("EnableKey", err)

	// Aliases.
	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(keyID)})
	must("CreateAlias", err)
	other, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	otherID := aws.ToString(other.KeyMetadata.KeyId)
	_, err = c.UpdateAlias(ctx, &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(otherID)})
	must("UpdateAlias", err)
	la, err := c.ListAliases(ctx, &kms.ListAliasesInput{KeyId: aws.String(otherID)})
	must("ListAliases", err)
	if len(la.Aliases) != 1 || aws.ToString(la.Aliases[0].AliasName) != "alias/app" || la.Aliases[0].CreationDate == nil {
		t.Fatalf("ListAliases: %+v", la.Aliases)
	}
	_, err = c.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String("alias/app")})
	must("DeleteAlias", err)

	// Tags.
	_, err = c.TagResource(ctx, &kms.TagResourceInput{KeyId: aws.String(keyID), Tags: []types.Tag{{TagKey: aws.String("env"), TagValue: aws.String("prod")}}})
	must("TagResource", err)
	_, err = c.UntagResource(ctx, &kms.UntagResourceInput{KeyId: aws.String(keyID), TagKeys: []string{"team"}})
	must("UntagResource", err)
	tags, err := c.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: aws.String(keyID)})
	must("ListResourceTags", err)
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].TagKey) != "env" {
		t.Fatalf("ListResourceTags: %+v", tags.Tags)
	}

	// Cryptography.
	ec := map[string]string{"purpose": "test", "tenant": "t-1"}
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("secret data"), EncryptionContext: ec})
	must("Encrypt", err)
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	must("Decrypt", err)
	if string(dec.Plaintext) != "secret data" || aws.ToString(dec.KeyId) != aws.ToString(md.Arn) {
		t.Fatalf("Decrypt: %q %q", dec.Plaintext, aws.ToString(dec.KeyId))
	}
	re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: aws.String(otherID)})
	must("ReEncrypt", err)
	dec2, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob})
	if err != nil || string(dec2.Plaintext) != "secret data" {
		t.Fatalf("Decrypt of ReEncrypt: %v", err)
	}
	gdk, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256})
	must("GenerateDataKey", err)
	if len(gdk.Plaintext) != 32 {
		t.Fatalf("GenerateDataKey: %d bytes", len(gdk.Plaintext))
	}
	back, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gdk.CiphertextBlob})
	if err != nil || !bytes.Equal(back.Plaintext, gdk.Plaintext) {
		t.Fatalf("Decrypt of a data key: %v", err)
	}
	gdkw, err := c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(keyID), NumberOfBytes: aws.Int32(16)})
	must("GenerateDataKeyWithoutPlaintext", err)
	if len(gdkw.CiphertextBlob) == 0 {
		t.Fatal("GenerateDataKeyWithoutPlaintext: no ciphertext")
	}
	rnd, err := c.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(24)})
	must("GenerateRandom", err)
	if len(rnd.Plaintext) != 24 {
		t.Fatalf("GenerateRandom: %d bytes", len(rnd.Plaintext))
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "other"}})
	var badCT *types.InvalidCiphertextException
	if !errors.As(err, &badCT) {
		t.Fatalf("Decrypt with another context: %v, want InvalidCiphertextException", err)
	}

	// Rotation.
	_, err = c.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String(keyID), RotationPeriodInDays: aws.Int32(90)})
	must("EnableKeyRotation", err)
	rs, err := c.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(keyID)})
	must("GetKeyRotationStatus", err)
	if !rs.KeyRotationEnabled || aws.ToInt32(rs.RotationPeriodInDays) != 90 || rs.NextRotationDate == nil ||
		rs.NextRotationDate.Sub(time.Now()) < 89*24*time.Hour {
		t.Fatalf("GetKeyRotationStatus: %+v", rs)
	}
	_, err = c.RotateKeyOnDemand(ctx, &kms.RotateKeyOnDemandInput{KeyId: aws.String(keyID)})
	must("RotateKeyOnDemand", err)
	lr, err := c.ListKeyRotations(ctx, &kms.ListKeyRotationsInput{KeyId: aws.String(keyID)})
	must("ListKeyRotations", err)
	if len(lr.Rotations) != 1 || lr.Rotations[0].RotationType != types.RotationTypeOnDemand || lr.Rotations[0].RotationDate == nil {
		t.Fatalf("ListKeyRotations: %+v", lr.Rotations)
	}
	_, err = c.DisableKeyRotation(ctx, &kms.DisableKeyRotationInput{KeyId: aws.String(keyID)})
	must("DisableKeyRotation", err)
	dec3, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil || string(dec3.Plaintext) != "secret data" {
		t.Fatalf("Decrypt after rotation: %v", err)
	}

	// Key policies.
	gp, err := c.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyID)})
	must("GetKeyPolicy", err)
	if aws.ToString(gp.PolicyName) != "default" || len(aws.ToString(gp.Policy)) < 20 {
		t.Fatalf("GetKeyPolicy: %+v", gp)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
	_, err = c.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(keyID), Policy: aws.String(policy)})
	must("PutKeyPolicy", err)
	lp, err := c.ListKeyPolicies(ctx, &kms.ListKeyPoliciesInput{KeyId: aws.String(keyID)})
	must("ListKeyPolicies", err)
	if len(lp.PolicyNames) != 1 || lp.PolicyNames[0] != "default" {
		t.Fatalf("ListKeyPolicies: %v", lp.PolicyNames)
	}

	// Grants.
	userARN := "arn:aws:iam::111122223333:user/grantee"
	g1, err := c.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String(userARN),
		RetiringPrincipal: aws.String("arn:aws:iam::111122223333:root"), Operations: []types.GrantOperation{types.GrantOperationDecrypt},
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "t-1"}}})
	must("CreateGrant", err)
	g2, err := c.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String(userARN),
		Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
	if err != nil {
		t.Fatal(err)
	}
	lg, err := c.ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(keyID)})
	must("ListGrants", err)
	if len(lg.Grants) != 2 || lg.Grants[0].CreationDate == nil {
		t.Fatalf("ListGrants: %+v", lg.Grants)
	}
	for _, g := range lg.Grants {
		if aws.ToString(g.GrantId) == aws.ToString(g1.GrantId) && (g.Constraints == nil || g.Constraints.EncryptionContextSubset["tenant"] != "t-1") {
			t.Fatalf("grant constraint lost: %+v", g.Constraints)
		}
	}
	lrg, err := c.ListRetirableGrants(ctx, &kms.ListRetirableGrantsInput{RetiringPrincipal: aws.String("arn:aws:iam::111122223333:root")})
	must("ListRetirableGrants", err)
	if len(lrg.Grants) != 1 || aws.ToString(lrg.Grants[0].GrantId) != aws.ToString(g1.GrantId) {
		t.Fatalf("ListRetirableGrants: %+v", lrg.Grants)
	}
	_, err = c.RetireGrant(ctx, &kms.RetireGrantInput{GrantToken: g1.GrantToken})
	must("RetireGrant", err)
	_, err = c.RevokeGrant(ctx, &kms.RevokeGrantInput{KeyId: aws.String(keyID), GrantId: g2.GrantId})
	must("RevokeGrant", err)
	lg, err = c.ListGrants(ctx, &kms.ListGrantsInput{KeyId: aws.String(keyID)})
	if err != nil || len(lg.Grants) != 0 {
		t.Fatalf("ListGrants after retire and revoke: %v %+v", err, lg)
	}

	// Imported key material.
	ext, err := c.CreateKey(ctx, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	if err != nil {
		t.Fatal(err)
	}
	extID := aws.ToString(ext.KeyMetadata.KeyId)
	if ext.KeyMetadata.KeyState != types.KeyStatePendingImport {
		t.Fatalf("EXTERNAL key state %s", ext.KeyMetadata.KeyState)
	}
	params, err := c.GetParametersForImport(ctx, &kms.GetParametersForImportInput{KeyId: aws.String(extID),
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	must("GetParametersForImport", err)
	if params.ParametersValidTo == nil || params.ParametersValidTo.Before(time.Now()) {
		t.Fatalf("ParametersValidTo %v", params.ParametersValidTo)
	}
	pub, err := x509.ParsePKIXPublicKey(params.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	material := make([]byte, 32)
	rand.Read(material)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	if err != nil {
		t.Fatal(err)
	}
	validTo := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	_, err = c.ImportKeyMaterial(ctx, &kms.ImportKeyMaterialInput{KeyId: aws.String(extID), ImportToken: params.ImportToken,
		EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialExpires, ValidTo: &validTo})
	must("ImportKeyMaterial", err)
	dk2, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(extID)})
	if err != nil || dk2.KeyMetadata.KeyState != types.KeyStateEnabled || dk2.KeyMetadata.ValidTo == nil || !dk2.KeyMetadata.ValidTo.Equal(validTo) {
		t.Fatalf("DescribeKey after import: %v %+v", err, dk2)
	}
	_, err = c.DeleteImportedKeyMaterial(ctx, &kms.DeleteImportedKeyMaterialInput{KeyId: aws.String(extID)})
	must("DeleteImportedKeyMaterial", err)

	// Listing and deletion.
	lk, err := c.ListKeys(ctx, &kms.ListKeysInput{})
	must("ListKeys", err)
	if len(lk.Keys) != 3 {
		t.Fatalf("ListKeys: %d keys", len(lk.Keys))
	}
	sd, err := c.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: aws.String(otherID), PendingWindowInDays: aws.Int32(7)})
	must("ScheduleKeyDeletion", err)
	if sd.KeyState != types.KeyStatePendingDeletion || sd.DeletionDate == nil || sd.DeletionDate.Sub(time.Now()) < 6*24*time.Hour {
		t.Fatalf("ScheduleKeyDeletion: %+v", sd)
	}
	_, err = c.CancelKeyDeletion(ctx, &kms.CancelKeyDeletionInput{KeyId: aws.String(otherID)})
	must("CancelKeyDeletion", err)

	for _, m := range kmsv1.KeyManagementService_ServiceDesc.Methods {
		if !called[m.MethodName] {
			t.Errorf("operation %s was not called through the AWS SDK", m.MethodName)
		}
	}
}

// TestSDKPaginators pages through keys, aliases and grants with the SDK's
// paginators, a page of 2 at a time.
func TestSDKPaginators(t *testing.T) {
	e := newTestEnv(t)
	c := e.sdk(e.root)
	ctx := context.Background()
	want := map[string]bool{}
	var first string
	for i := range 7 {
		k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(k.KeyMetadata.KeyId)
		want[id] = true
		if i == 0 {
			first = id
		}
		if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(fmt.Sprintf("alias/k%d", i)), TargetKeyId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if _, err := c.CreateGrant(ctx, &kms.CreateGrantInput{KeyId: aws.String(first), Name: aws.String(fmt.Sprintf("g%d", i)),
			GranteePrincipal: aws.String("arn:aws:iam::111122223333:user/u"), Operations: []types.GrantOperation{types.GrantOperationDecrypt}}); err != nil {
			t.Fatal(err)
		}
	}
	got, pages := map[string]bool{}, 0
	p := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, k := range out.Keys {
			if got[aws.ToString(k.KeyId)] {
				t.Fatalf("key %s on two pages", aws.ToString(k.KeyId))
			}
			got[aws.ToString(k.KeyId)] = true
		}
	}
	if len(got) != len(want) || pages != 4 {
		t.Fatalf("ListKeys paginator: %d keys in %d pages, want 7 in 4", len(got), pages)
	}
	aliases := 0
	ap := kms.NewListAliasesPaginator(c, &kms.ListAliasesInput{Limit: aws.Int32(2)})
	for ap.HasMorePages() {
		out, err := ap.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		aliases += len(out.Aliases)
	}
	if aliases != 7 {
		t.Fatalf("ListAliases paginator: %d aliases, want 7", aliases)
	}
	grants := 0
	gp := kms.NewListGrantsPaginator(c, &kms.ListGrantsInput{KeyId: aws.String(first), Limit: aws.Int32(2)})
	for gp.HasMorePages() {
		out, err := gp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		grants += len(out.Grants)
	}
	if grants != 5 {
		t.Fatalf("ListGrants paginator: %d grants, want 5", grants)
	}
}
