package cluster

import (
	"testing"

	"github.com/stateless-go/stateless/internal/testenv"
)

// TestMain runs the tests under testenv.Main, as every package whose tests
// start servers does. The containers and networks of this package are
// removed by the tests' own cleanups.
func TestMain(m *testing.M) { testenv.Main(m) }
