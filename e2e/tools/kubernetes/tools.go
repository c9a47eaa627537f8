// Package tools pins the Kubernetes release whose binaries e2e/ builds with `go build`.
package tools
