//go:build race

package server

// raceDetector reports a build with the race detector, whose
// instrumentation changes what code costs (timing_test.go).
const raceDetector = true
