// Command kmsbench is the load generator for kmsd.
//
// It drives GenerateDataKey, Encrypt and Decrypt — and, for mutations,
// CreateKey — over gRPC at one or more concurrencies for a fixed duration,
// checks every result, and prints throughput (ops/s) and latency (p50,
// p99, max) per operation and concurrency.
//
// # The echo ceiling
//
// A raw ops/s figure says little on its own: it depends on the machine, the
// Go runtime and gRPC. So kmsbench also starts, in its own process, a bare
// gRPC server that implements the same service with canned responses of the
// same sizes as kmsd's (a 32-byte data key, a 142-byte ciphertext blob, an
// ARN key id, a key material id) and no cryptography, and drives it with the
// same concurrency over the same number of connections. kmsd's throughput is
// then reported as a ratio of that echo ceiling measured in the same run:
// the ratio isolates kmsd's own cost (authorisation, key lookup, crypto,
// audit) from the cost of gRPC and protobuf.
//
// # Checking
//
// Every GenerateDataKey result must carry a 32-byte plaintext, a ciphertext
// of the expected length and a key id; every Encrypt result a ciphertext of
// the expected length. Every 100th ciphertext of each caller (its first
// included) is kept and decrypted after the timed window, and its plaintext
// and key id compared. Decrypt runs over a
// pool of ciphertexts made with Encrypt before the run and compares every
// plaintext. Failed calls are counted by gRPC code and the ErrorInfo reason
// (the AWS exception name). A run with any failed call or wrong result makes
// kmsbench exit with status 1 after printing its report.
//
// # CPU
//
// With --server-pid, kmsbench reads the kmsd process's user+system CPU time
// from /proc/PID/stat at the start and end of each timed window and prints
// server CPU microseconds per call. The echo server runs inside kmsbench, so
// for the echo rows the figure is the CPU of the whole kmsbench process
// (echo client and echo server together), labelled echo_proc_cpu_us/call.
//
// # The AWS protocol
//
// With --protocol aws the callers use the AWS SDK for Go v2
// (service/kms) against an AWS-KMS-compatible HTTP endpoint — kmsd's
// --http-addr, --endpoint http://127.0.0.1:7480 — signing with
// KMS_ACCESS_KEY_ID and KMS_SECRET_ACCESS_KEY (SigV4, region --region).
// The echo ceiling speaks gRPC, so it is off; instead --baseline-endpoint
// measures another AWS KMS implementation in the same run with the same
// client (an emulator such as local-kms; it may ignore signatures), and
// --baseline-pid reads its CPU time. The report then shows base_ops/s,
// ratio (kmsd ÷ base), both servers' CPU per call and cpu_ratio (kmsd ÷
// base). The baseline's ciphertext lengths are not checked.
//
//	kmsbench --protocol aws --endpoint http://127.0.0.1:7480 --server-pid $(pidof kmsd) \
//	    --baseline-endpoint http://127.0.0.1:8080 --baseline-pid $(pidof local-kms) --concurrency 1,16,64
//
// # A cluster
//
// --endpoint takes the API addresses of several members, comma-separated;
// the callers are spread over them evenly (caller i uses member i mod n),
// so a crypto run measures the cluster serving from every member and a
// CreateKey run measures mutations forwarded to the leader from every
// member and committed through Raft. --server-pid then takes the members'
// pids, and the CPU per call is theirs summed. CreateKey leaves its keys in
// place.
//
//	kmsbench --endpoint 10.0.0.1:7400,10.0.0.2:7400,10.0.0.3:7400 --ops CreateKey,GenerateDataKey \
//	    --concurrency 1,64 --echo=false --server-pid $(pidof kmsd | tr ' ' ,)
//
// # Usage
//
//	kmsbench [flags]
//
//	--endpoint addr[,addr]   kmsd gRPC address, or a cluster's members (default $KMS_ENDPOINT or 127.0.0.1:7400)
//	--key-id id              key to use; empty creates a fresh key with CreateKey
//	--ops list               of GenerateDataKey, Encrypt, Decrypt, CreateKey (default the first three, in turn)
//	--concurrency list       concurrent callers, e.g. 1,16,64 (default 64)
//	--duration d             timed window per run (default 10s)
//	--warmup d               untimed calls before each window (default 1s)
//	--conns n                gRPC connections shared by the callers (default 1)
//	--plaintext-size n       Encrypt/Decrypt plaintext bytes (default 32)
//	--echo                   also measure the echo ceiling (default true)
//	--echo-only              measure only the echo ceiling; no kmsd needed
//	--server-pid pid[,pid]   kmsd process(es) to read CPU time from (summed)
//	--max-ops n              stop a run after n timed calls
//	--ciphertext-overhead n  ciphertext length minus plaintext length (default 110; 0 skips the check)
//	--json                   print one JSON document instead of the table
//	--serve-echo addr        only serve the echo service on addr, until interrupted
//	--protocol grpc|aws      kmsd's gRPC API (default), or the AWS KMS protocol through the AWS SDK
//	--region r               with aws: the region requests are signed for (default us-east-1)
//	--baseline-endpoint url  with aws: another AWS KMS endpoint measured in the same run
//	--baseline-pid pid       the baseline's process, to read its CPU time from
//
// Example, against a local kmsd:
//
//	kmsbench --concurrency 1,16,64 --duration 10s --server-pid $(pidof kmsd)
//
// The in-process echo figures share one process between client and server.
// To measure the echo server's own CPU per call the way kmsd's is measured,
// run it as a separate process and point kmsbench at it:
//
//	kmsbench --serve-echo 127.0.0.1:7409 &
//	kmsbench --endpoint 127.0.0.1:7409 --echo=false --server-pid $!
package main
