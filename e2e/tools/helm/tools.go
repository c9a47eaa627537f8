// Package tools pins the helm release that e2e/ builds with `go build`.
package tools
