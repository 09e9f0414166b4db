package storetest_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/stateless-go/stateless/store"
	"github.com/stateless-go/stateless/store/memory"
	"github.com/stateless-go/stateless/store/storetest"
)

// An adapter proves itself with one call: in its package's tests,
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, newStore, nil)
//	}
//
// where newStore returns a fresh store per check (over a shared server,
// give each a fresh key prefix: storetest.RandomPrefix). Check runs the
// same checks outside a test and returns what failed.
func ExampleCheck() {
	newStore := func(ctx context.Context) (store.Store, error) {
		return memory.New(nil), nil
	}
	fmt.Println(storetest.Check(context.Background(), newStore, nil))
	// Output: <nil>
}

// forgetfulDelete is a broken adapter: its Delete does nothing.
type forgetfulDelete struct{ store.Store }

func (forgetfulDelete) Delete(ctx context.Context, key string) error { return nil }

// The suite names what a broken adapter gets wrong.
func ExampleCheck_broken() {
	newStore := func(ctx context.Context) (store.Store, error) {
		return forgetfulDelete{memory.New(nil)}, nil
	}
	err := storetest.Check(context.Background(), newStore, nil)
	var failed *storetest.Error
	if errors.As(err, &failed) {
		fmt.Println(failed.Failed("Delete/Existing"), failed.Failed("Replace/StaleVersion"))
	}
	// Output: true false
}
