package kubelet

import (
	"os"
	"testing"
)

// The stand-in re-executes its own binary for its helpers; under go test
// that binary is the test binary.
func TestMain(m *testing.M) {
	if IsHelper() {
		RunHelper()
	}
	os.Exit(m.Run())
}
