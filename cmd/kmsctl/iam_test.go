package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// fakeIAM is an in-process IdentityManagementService: five users listed
// in pages of two (or MaxItems), user "missing" unknown.
type fakeIAM struct {
	kmsv1.UnimplementedIdentityManagementServiceServer
	mu     sync.Mutex
	policy *kmsv1.PutUserPolicyRequest
}

var fakeCreated = timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

func noSuchUser(name string) error {
	st, _ := status.New(codes.NotFound, "The user with name "+name+" cannot be found.").WithDetails(
		&errdetails.ErrorInfo{Reason: "NoSuchEntityException", Domain: "kms.v1"})
	return st.Err()
}

func (f *fakeIAM) CreateAccessKey(ctx context.Context, r *kmsv1.CreateAccessKeyRequest) (*kmsv1.CreateAccessKeyResponse, error) {
	if r.GetUserName() == "missing" {
		return nil, noSuchUser("missing")
	}
	return &kmsv1.CreateAccessKeyResponse{AccessKey: &kmsv1.AccessKey{UserName: r.GetUserName(), AccessKeyId: "AKIAIOSFODNN7EXAMPLE",
		Status: "Active", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", CreateDate: fakeCreated}}, nil
}

func (f *fakeIAM) PutUserPolicy(ctx context.Context, r *kmsv1.PutUserPolicyRequest) (*kmsv1.PutUserPolicyResponse, error) {
	f.mu.Lock()
	f.policy = r
	f.mu.Unlock()
	return &kmsv1.PutUserPolicyResponse{}, nil
}

func (f *fakeIAM) ListUsers(ctx context.Context, r *kmsv1.ListUsersRequest) (*kmsv1.ListUsersResponse, error) {
	start, _ := strconv.Atoi(r.GetMarker())
	size := int(r.GetMaxItems())
	if size == 0 {
		size = 2
	}
	end := min(start+size, 5)
	resp := &kmsv1.ListUsersResponse{}
	for i := start; i < end; i++ {
		resp.Users = append(resp.Users, &kmsv1.User{UserName: "u" + strconv.Itoa(i), Path: "/"})
	}
	if end < 5 {
		resp.IsTruncated, resp.Marker = true, strconv.Itoa(end)
	}
	return resp, nil
}

func startFakeIAM(t *testing.T) (*fakeIAM, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIAM{}
	s := grpc.NewServer()
	kmsv1.RegisterIdentityManagementServiceServer(s, f)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return f, lis.Addr().String()
}

// TestIAMCommands: output in AWS's shape, policy documents from files,
// pages followed, service errors as the AWS CLI prints them.
func TestIAMCommands(t *testing.T) {
	f, addr := startFakeIAM(t)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, []byte(doc+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"iam", "create-access-key", "--user-name", "alice"}, 0,
			`{"AccessKey":{"UserName":"alice","AccessKeyId":"AKIAIOSFODNN7EXAMPLE","Status":"Active","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","CreateDate":"2026-01-02T03:04:05Z"}}`, ""},
		{[]string{"iam", "create-access-key", "--user-name", "missing"}, exitServiceError, "",
			"An error occurred (NoSuchEntityException) when calling the CreateAccessKey operation: The user with name missing cannot be found.\n"},
		{[]string{"iam", "put-user-policy", "--user-name", "alice", "--policy-name", "p", "--policy-document", "file://" + path}, 0, "", ""},
		{[]string{"iam", "list-users", "--query", "Users[].UserName"}, 0, `["u0","u1","u2","u3","u4"]`, ""},
		{[]string{"iam", "list-users", "--max-items", "3"}, 0, `"IsTruncated":true,"Marker":"3"`, ""},
		{[]string{"iam", "create-user"}, exitUsage, "", "--user-name"},
		{[]string{"iam", "frobnicate"}, exitUsage, "", `unknown command "iam frobnicate"`},
	}
	for i, c := range cases {
		stdout, stderr, code := ctl(t, addr, "", c.args...)
		compact := strings.Join(strings.Fields(stdout), "")
		if code != c.code || !strings.Contains(compact, strings.Join(strings.Fields(c.stdout), "")) || !strings.Contains(stderr, c.stderr) {
			t.Errorf("Test %d: kmsctl %q: exit %d, stdout %q, stderr %q", i, c.args, code, stdout, stderr)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.policy.GetPolicyDocument() != doc || f.policy.GetPolicyName() != "p" {
		t.Errorf("put-user-policy sent %v", f.policy)
	}
}
