package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Exit statuses, as the AWS CLI's.
const (
	exitOK           = 0
	exitUnverified   = 1 // audit verify or audit prove: the log, export or proof does not check out
	exitUsage        = 252
	exitServiceError = 254
	exitOther        = 255
	exitInterrupted  = 130 // as a shell reports SIGINT
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// flagKind says how a flag's value is parsed.
type flagKind int

const (
	kindString  flagKind = iota
	kindInt              // an int32
	kindBool             // no value; --no-NAME sets false
	kindBlob             // fileb://PATH, - (stdin) or base64
	kindContext          // Key=Value,... or a JSON object, or file://PATH
	kindTags             // TagKey=k,TagValue=v ... or a JSON list, or file://PATH
	kindList             // several values, or a JSON list
)

type flagSpec struct {
	name     string
	kind     flagKind
	required bool
}

// command is one kmsctl subcommand.
type command struct {
	name  string
	op    string // the API operation, for error messages
	usage string
	flags []flagSpec
	// outfile names the binary response field --outfile writes.
	outfile string
	// run calls the API; local commands get a nil client.
	// The response is a proto.Message, or a plain value for local commands.
	run   func(ctx context.Context, c *call) (any, error)
	local bool
	// untimed commands make many calls or stream (audit export, tail):
	// --timeout applies to each unary call rather than to the command.
	untimed bool
	// ownsOutfile commands write --outfile themselves.
	ownsOutfile bool
	// positional, if set, is the flag that one argument without "--"
	// stands for ("cluster snapshot save FILE" is --outfile FILE); after
	// a "--" argument it may start with "-".
	positional string
}

// call is one invocation: the parsed flags and the client.
type call struct {
	client  kmsv1.KeyManagementServiceClient
	audit   kmsv1.AuditServiceClient
	cluster kmsv1.ClusterServiceClient
	iam     kmsv1.IdentityManagementServiceClient
	sts     kmsv1.SecurityTokenServiceClient
	args    *parsedArgs
	// transport reaches kmsd (and, for cluster status, the other members).
	transport *transport
	// stdout and stderr are for commands that print as they go
	// (audit tail) or add notes to their result.
	stdout, stderr io.Writer
}

var commands = map[string]*command{}

// groups are the nouns whose commands take two words ("audit lookup"),
// or three ("cluster snapshot save"), with the usage printed for the noun
// alone.
var groups = map[string]string{}

func register(cmds ...*command) {
	for _, c := range cmds {
		commands[c.name] = c
	}
}

// globalFlags apply to every command.
var globalFlags = []flagSpec{
	{"endpoint", kindString, false}, {"output", kindString, false}, {"query", kindString, false},
	{"timeout", kindString, false}, {"outfile", kindString, false}, {"max-items", kindInt, false},
	{"starting-token", kindString, false}, {"help", kindBool, false}, {"show-event-id", kindBool, false},
	{"ca-bundle", kindString, false}, {"profile", kindString, false},
}

const mainUsage = `Usage: kmsctl [global flags] COMMAND [flags]

kmsctl is the command line of kmsd, shaped like "aws kms".

Commands:
%s
Global flags:
  --endpoint HOST:PORT   kmsd's gRPC address (env KMS_ENDPOINT; default 127.0.0.1:7400);
                         https://HOST:PORT for TLS
  --profile NAME         sign requests with this profile of ~/.kmsd/credentials (or
                         KMS_SHARED_CREDENTIALS_FILE; env KMS_PROFILE); without it the
                         environment's KMS_ACCESS_KEY_ID and KMS_SECRET_ACCESS_KEY (and
                         KMS_SESSION_TOKEN), else the profile "default"
  --ca-bundle PATH       verify kmsd's TLS certificate against these PEM certificates (the
                         cluster CA; env KMS_CA_BUNDLE); implies TLS. With https:// and no
                         bundle, AWS_CA_BUNDLE or else the system's roots
  --output json|text     output format (default json)
  --query PATH           print only this value: KeyMetadata.KeyId, Keys[0].KeyId, Keys[].KeyId
  --timeout DURATION     per-request timeout (default 10s)
  --outfile PATH         write the binary result (Plaintext or CiphertextBlob) to PATH, mode 0600
                         (audit export: the export file)
  --max-items N          list commands: stop after N entries (default: follow every page)
  --starting-token M     list commands: same as --marker
  --show-event-id        print "EventId: ID" to standard error after each call of a KMS
                         command, also one that failed: the id of the call's audit record,
                         for "kmsctl audit prove --event-id ID"

Flags take "--flag value" or "--flag=value". Binary parameters take
fileb://PATH (raw bytes), - (raw bytes from standard input), file://PATH
(base64 text) or base64 text. Encryption contexts take Key=Value,Key2=Value2, a JSON object
or file://PATH; --tags takes TagKey=K,TagValue=V items, a JSON list or
file://PATH.

JSON output has AWS's member names in API field order; empty fields are
left out and commands with an empty response print nothing. Text output is
tab-separated: the scalars of an object on one line (headed by the member
name in capitals when nested, e.g. KEYMETADATA), then each nested object or
list item on its own line.

Run "kmsctl help COMMAND" for a command's flags and an example, and
"kmsctl completion bash|zsh|fish" for a shell completion script.

Exit status: 0 success; 252 usage error (nothing was sent); 254 the service
returned an error ("An error occurred (NotFoundException) when calling the
Encrypt operation: ..."); 255 kmsd unreachable, timeout, or another local
error (such as inspect-ciphertext on a blob that is not a kmsd ciphertext);
130 interrupted (Ctrl-C) before kmsd answered; 1 audit verify, audit export
or audit prove found that the audit log, export or proof does not check out.
`

// usageError is a mistake on the command line; nothing was sent.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// run is kmsctl; it returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "__complete" { // the completion scripts' question
		return complete(args[1:], stdout)
	}
	name, rest := splitCommand(args)
	for usage, ok := groups[name]; ok; usage, ok = groups[name] {
		var sub string
		sub, rest = splitCommand(rest)
		switch {
		case sub == "help" || sub == "--help" || sub == "-h":
			fmt.Fprint(stdout, usage)
			return exitOK
		case sub == "" || commands[name+" "+sub] == nil && groups[name+" "+sub] == "":
			if sub != "" {
				fmt.Fprintf(stderr, "kmsctl: unknown command %q\n\n", name+" "+sub)
			}
			fmt.Fprint(stderr, usage)
			return exitUsage
		}
		name += " " + sub
	}
	switch name {
	case "":
		if len(args) > 0 {
			fmt.Fprintf(stderr, "kmsctl: no command in %q\n\n", args)
		}
		fmt.Fprintf(stderr, mainUsage, commandList())
		return exitUsage
	case "help", "-h", "--help":
		return help(rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "kmsctl", version)
		return exitOK
	case "completion":
		return completionScript(rest, stdout, stderr)
	}
	cmd := commands[name]
	if cmd == nil {
		fmt.Fprintf(stderr, "kmsctl: unknown command %q\n\n", name)
		fmt.Fprintf(stderr, mainUsage, commandList())
		return exitUsage
	}
	if sub, _ := splitCommand(rest); sub == "help" { // as "aws kms encrypt help"
		fmt.Fprint(stdout, cmd.usage)
		return exitOK
	}
	pa, err := parseArgs(cmd, rest, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "kmsctl %s: %v\n\n%s", cmd.name, err, cmd.usage)
		return exitUsage
	}
	if pa.bools["help"] {
		fmt.Fprint(stdout, cmd.usage)
		return exitOK
	}
	return execute(ctx, cmd, pa, stdout, stderr)
}

// help prints the usage of kmsctl or of one command.
func help(args []string, stdout, stderr io.Writer) int {
	name, rest := splitCommand(args)
	if name == "" {
		fmt.Fprintf(stdout, mainUsage, commandList())
		return exitOK
	}
	for usage, ok := groups[name]; ok; usage, ok = groups[name] {
		var sub string
		sub, rest = splitCommand(rest)
		if sub == "" {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		name += " " + sub
	}
	if cmd := commands[name]; cmd != nil {
		fmt.Fprint(stdout, cmd.usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "kmsctl: unknown command %q\n", name)
	return exitUsage
}

// splitCommand finds the subcommand among leading global flags. Only a
// known global flag takes the next argument as its value, so an unknown
// flag before the command is reported by parseArgs rather than taken for
// a value.
func splitCommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") || a == "--help" || a == "--version" {
			rest := append(append([]string{}, args[:i]...), args[i+1:]...)
			return a, rest
		}
		if takesValue(strings.TrimPrefix(a, "--")) && i+1 < len(args) {
			i++ // a global flag's value
		}
	}
	return "", nil
}

// takesValue reports whether name (with no "=value") is a global flag
// whose value is the next argument.
func takesValue(name string) bool {
	for _, f := range globalFlags {
		if f.name == name {
			return f.kind != kindBool
		}
	}
	return false
}

func commandList() string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	return b.String()
}

// execute runs a parsed command and prints its result or error.
func execute(ctx context.Context, cmd *command, pa *parsedArgs, stdout, stderr io.Writer) int {
	out, err := newOutput(pa, cmd)
	if err != nil {
		fmt.Fprintf(stderr, "kmsctl %s: %v\n", cmd.name, err)
		return exitUsage
	}
	timeout, err := checkGlobals(pa)
	if err != nil {
		fmt.Fprintf(stderr, "kmsctl %s: %v\n", cmd.name, err)
		return exitUsage
	}
	c := &call{args: pa, stdout: stdout, stderr: stderr}
	if !cmd.local {
		var interceptors []grpc.UnaryClientInterceptor
		if cmd.untimed {
			interceptors = append(interceptors, perCallTimeout(timeout))
		}
		if pa.bools["show-event-id"] {
			interceptors = append(interceptors, showEventID(stderr))
		}
		tr, err := newTransport(pa)
		if err != nil {
			fmt.Fprintf(stderr, "kmsctl %s: %v\n", cmd.name, err)
			return exitUsage
		}
		c.transport = tr
		conn, err := tr.dial(tr.target, grpc.WithChainUnaryInterceptor(interceptors...))
		if err != nil {
			fmt.Fprintf(stderr, "kmsctl: %v\n", err)
			return exitOther
		}
		defer conn.Close()
		c.client = kmsv1.NewKeyManagementServiceClient(conn)
		c.audit = kmsv1.NewAuditServiceClient(conn)
		c.cluster = kmsv1.NewClusterServiceClient(conn)
		c.iam = kmsv1.NewIdentityManagementServiceClient(conn)
		c.sts = kmsv1.NewSecurityTokenServiceClient(conn)
	}
	if !cmd.untimed {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	resp, err := cmd.run(ctx, c)
	if err != nil {
		return reportError(stderr, cmd, endpoint(pa), timeout, err)
	}
	if err := out.write(stdout, resp); err != nil {
		fmt.Fprintf(stderr, "kmsctl: %v\n", err)
		return exitOther
	}
	return exitOK
}

// checkGlobals validates the global flags and returns the timeout.
func checkGlobals(pa *parsedArgs) (time.Duration, error) {
	timeout := 10 * time.Second
	if s := pa.strings["timeout"]; s != "" {
		var err error
		if timeout, err = time.ParseDuration(s); err != nil || timeout <= 0 {
			return 0, usagef("--timeout %q is not a positive duration such as 10s", s)
		}
	}
	if pa.set["max-items"] && pa.ints["max-items"] < 1 {
		return 0, usagef("--max-items must be at least 1")
	}
	if pa.set["marker"] && pa.set["starting-token"] {
		return 0, usagef("give --marker or --starting-token, not both")
	}
	return timeout, nil
}

func endpoint(pa *parsedArgs) string {
	if e := pa.strings["endpoint"]; e != "" {
		return e
	}
	if e := os.Getenv("KMS_ENDPOINT"); e != "" {
		return e
	}
	return "127.0.0.1:7400"
}

// errLocal marks a failure of a command that runs without kmsd, such as
// inspect-ciphertext on a blob that is not a kmsd ciphertext (exit 255).
var errLocal = errors.New("kmsctl: local error")
