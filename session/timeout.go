package session

import (
	"context"
	"time"

	"github.com/stateless-go/stateless/store"
)

// DefaultStoreTimeout bounds each store operation when
// Options.StoreTimeout is zero.
const DefaultStoreTimeout = time.Second

// boundedStore gives every store operation a deadline of its own, so a
// store that hangs (a frozen server, a black-holed connection) costs a
// request at most d per operation instead of however long the client
// library waits. It relies on the store contract that every method honours
// its context.
type boundedStore struct {
	store.Store
	d time.Duration
}

func (b boundedStore) Get(ctx context.Context, key string) (store.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Store.Get(ctx, key)
}

func (b boundedStore) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Store.Create(ctx, key, value, ttl)
}

func (b boundedStore) Replace(ctx context.Context, key string, value []byte, ttl time.Duration, version uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Store.Replace(ctx, key, value, ttl, version)
}

func (b boundedStore) Touch(ctx context.Context, key string, ttl time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Store.Touch(ctx, key, ttl)
}

func (b boundedStore) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Store.Delete(ctx, key)
}
