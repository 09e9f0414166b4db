package main

// The store adapters this binary can open by URL. Each blank import
// registers its scheme with store.Open; a scheme missing here makes
// -store fail with an error naming the import to add.
//
// Add an adapter by adding its import below, one per line:
//
//	_ "github.com/stateless-go/stateless/store/redis"    // redis://, rediss://
//	_ "github.com/stateless-go/stateless/store/memcache" // memcache://
//	_ "github.com/stateless-go/stateless/store/postgres" // postgres://, postgresql://
import (
	_ "github.com/stateless-go/stateless/store/memory" // memory:// (the default)
)
