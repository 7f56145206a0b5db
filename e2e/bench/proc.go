package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime/stime in /proc/PID/stat. Linux fixes USER_HZ at
// 100 on every architecture we run on (getconf CLK_TCK prints it).
const userHZ = 100

// LoadAvg returns the 1, 5 and 15 minute load averages of /proc/loadavg, or
// unknown when it cannot be read.
func LoadAvg(unknown string) string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return unknown
}

// ErrProcFormat is returned when a /proc file does not have the expected
// layout.
var ErrProcFormat = errors.New("unexpected /proc format")

// ProcCPU returns the CPU time (user + system) a process has used so far, from
// /proc/PID/stat. The resolution is one clock tick (10 ms): measure over runs
// that use at least a few hundred ticks.
func ProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("failed to read process stat: %w", err)
	}
	return parseStatCPU(b)
}

// parseStatCPU extracts utime+stime from the contents of /proc/PID/stat. The
// command name (field 2) may contain spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("failed to parse process stat: %w", ErrProcFormat)
	}
	// After ")": field 3 (state) is index 0; utime is field 14, stime 15.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("failed to parse process stat: %w", ErrProcFormat)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("failed to parse process stat: %w", ErrProcFormat)
	}
	return time.Duration(ut+st) * (time.Second / userHZ), nil
}

// Mem is a process's memory as /proc/PID/status reports it.
type Mem struct {
	RSS     int64 // VmRSS, bytes: resident now
	HWM     int64 // VmHWM, bytes: peak resident since start
	Threads int
}

// ProcMem reads VmRSS, VmHWM and Threads from /proc/PID/status.
func ProcMem(pid int) (Mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, fmt.Errorf("failed to read process status: %w", err)
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (Mem, error) {
	var m Mem
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "VmRSS", "VmHWM":
			n, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
			if err != nil {
				return Mem{}, fmt.Errorf("failed to parse %s: %w", k, ErrProcFormat)
			}
			if k == "VmRSS" {
				m.RSS = n << 10
			} else {
				m.HWM = n << 10
			}
			seen++
		case "Threads":
			n, err := strconv.Atoi(v)
			if err != nil {
				return Mem{}, fmt.Errorf("failed to parse Threads: %w", ErrProcFormat)
			}
			m.Threads = n
			seen++
		}
	}
	if seen < 3 {
		return Mem{}, fmt.Errorf("failed to parse process status: %w", ErrProcFormat)
	}
	return m, nil
}
