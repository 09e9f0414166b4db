package auth

import (
	"testing"

	"github.com/stateless-go/stateless/internal/testenv"
)

// TestMain stops the servers internal/testenv starts for this package's
// tests (revoke_stores_test.go), pass or fail.
func TestMain(m *testing.M) { testenv.Main(m) }
