package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The test binary re-runs itself as testapp when TESTAPP_UNDER_TEST is set.
func TestMain(m *testing.M) {
	if os.Getenv("TESTAPP_UNDER_TEST") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestOutput(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		wantOut  string
		wantCode int
	}{
		{
			name:    "args then sorted env",
			env:     []string{"ZED=last", "ALPHA=first", "EQ=a=b"},
			wantOut: "ARG[0]=" + os.Args[0] + "\nARG[1]=one\nARG[2]=two words\nALPHA=first\nEQ=a=b\nTESTAPP_UNDER_TEST=1\nZED=last\n",
		},
		{
			name:     "exit code",
			env:      []string{"TESTAPP_EXIT=7"},
			wantOut:  "ARG[0]=" + os.Args[0] + "\nARG[1]=one\nARG[2]=two words\nTESTAPP_EXIT=7\nTESTAPP_UNDER_TEST=1\n",
			wantCode: 7,
		},
		{
			name:     "bad exit code",
			env:      []string{"TESTAPP_EXIT=x"},
			wantCode: 2,
		},
		{
			name:     "bad sleep",
			env:      []string{"TESTAPP_SLEEP=forever"},
			wantCode: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "one", "two words")
			cmd.Env = append([]string{"TESTAPP_UNDER_TEST=1"}, tt.env...)
			out, err := cmd.Output()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", code, tt.wantCode)
			}
			if string(out) != tt.wantOut {
				t.Errorf("output:\n%s\nwant:\n%s", out, tt.wantOut)
			}
		})
	}
}

func TestSleepEndsOnSIGTERM(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{"TESTAPP_UNDER_TEST=1", "TESTAPP_SLEEP=1h"}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "TESTAPP_UNDER_TEST=1\n") {
		n, err := stdout.Read(buf)
		if err != nil {
			t.Fatalf("read: %v (got %q)", err, got.String())
		}
		got.Write(buf[:n])
	}
	start := time.Now()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to stop", d)
	}
}
