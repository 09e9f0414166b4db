// Package readme holds the test that keeps README.md's code true: it
// builds the "Sessions in your own service" program from the README text
// and runs it. Nothing to import.
package readme
