package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// procCPU returns the user+system CPU time of process pid, all threads,
// from /proc/PID/stat. Its resolution is one clock tick (usually 10 ms).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	ticks, err := parseStatCPU(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %v", pid, err)
	}
	return time.Duration(ticks) * time.Second / time.Duration(clockTicks()), nil
}

// parseStatCPU returns utime+stime, in clock ticks, from the contents of a
// /proc/PID/stat file. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from its last ')'.
func parseStatCPU(stat []byte) (uint64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name")
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("%d fields, want more than %d", len(f)+2, stime+2)
	}
	u, err := strconv.ParseUint(string(f[utime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %v", err)
	}
	s, err := strconv.ParseUint(string(f[stime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %v", err)
	}
	return u + s, nil
}

// clockTicks returns the kernel's USER_HZ, from the AT_CLKTCK auxiliary
// vector entry, or the universal Linux value 100 if that cannot be read.
var clockTicks = sync.OnceValue(func() uint64 {
	const atClkTck = 17
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	for ; len(b) >= 16; b = b[16:] {
		k, v := binary.NativeEndian.Uint64(b), binary.NativeEndian.Uint64(b[8:])
		if k == atClkTck && v > 0 {
			return v
		}
	}
	return 100
})

// selfCPU returns this process's user+system CPU time, from getrusage, at
// microsecond resolution.
func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	return tv(ru.Utime) + tv(ru.Stime), nil
}

// cpuMeter reads the CPU time of this process and the sum of the pids'.
type cpuMeter struct{ pids []int }

type cpuSample struct{ server, self time.Duration }

func (m cpuMeter) read() (cpuSample, error) {
	var s cpuSample
	var err error
	for _, pid := range m.pids {
		t, err := procCPU(pid)
		if err != nil {
			return s, fmt.Errorf("server CPU: %v", err)
		}
		s.server += t
	}
	if s.self, err = selfCPU(); err != nil {
		return s, fmt.Errorf("own CPU: %v", err)
	}
	return s, nil
}
