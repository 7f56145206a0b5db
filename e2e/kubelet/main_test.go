package kubelet

import (
	"os"
	"path/filepath"
	"testing"
)

// The stand-in re-executes its own binary for its helpers; under go test
// that binary is the test binary.
func TestMain(m *testing.M) {
	if IsHelper() {
		RunHelper()
	}
	code := m.Run()
	if testAppPath != "" {
		os.RemoveAll(filepath.Dir(testAppPath))
	}
	os.Exit(code)
}
