// Package tools pins the containerd release (daemon, runc shim, ctr) that
// e2e/node/ builds with `go build`.
package tools
