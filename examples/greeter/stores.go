package main

// The store adapters this binary can open by URL. Each blank import
// registers its schemes with store.Open; a scheme missing here makes -store
// fail with an error naming the import to add.
import (
	_ "github.com/stateless-go/stateless/store/memcache" // memcache://
	_ "github.com/stateless-go/stateless/store/memory"   // memory:// (the default)
	_ "github.com/stateless-go/stateless/store/postgres" // postgres://, postgresql://
	_ "github.com/stateless-go/stateless/store/redis"    // redis://, rediss://, redis+cluster://, redis+sentinel://
)
