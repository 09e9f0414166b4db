package postgres

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestDocBatchLimits holds doc.go, the one place that states the batch
// limits to readers, to the constants the code uses.
func TestDocBatchLimits(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(src)), " ")
	for _, want := range []string{
		fmt.Sprintf("maxBatch = %d calls", maxBatch),
		"maxBatchBytes = " + size(maxBatchBytes),
		"batchAloneSize = " + size(batchAloneSize),
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("doc.go does not say %q: the constant and its documentation disagree", want)
		}
	}
}

// size spells n bytes as doc.go does.
func size(n int) string {
	switch {
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
