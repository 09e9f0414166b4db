//go:build race

package cluster

// raceEnabled: the load generator runs in a binary built with -race, which
// costs it several times the CPU; the report says so.
const raceEnabled = true
