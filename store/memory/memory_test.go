package memory_test

import (
	"context"
	"testing"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
	"github.com/stateless-go/stateless/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(context.Context) (store.Store, error) {
		return memory.New(nil), nil
	}, nil)
}

func TestConformanceWithLimits(t *testing.T) {
	storetest.Run(t, func(context.Context) (store.Store, error) {
		return memory.New(&memory.Options{MaxEntries: 100000, MaxValueSize: 4096}), nil
	}, &storetest.Options{MaxValueSize: 4096})
}
