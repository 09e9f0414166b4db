package prom

import "testing"

func TestOpIndex(t *testing.T) {
	for i, op := range storeOps {
		if got := opIndex(op); got != i {
			t.Errorf("opIndex(%s) = %d; want %d", op, got, i)
		}
	}
	if opIndex("rename") != -1 {
		t.Error("an unknown operation has an index")
	}
}
