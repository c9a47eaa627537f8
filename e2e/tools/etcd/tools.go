// Package tools pins the etcd release that e2e/ builds with `go build`.
package tools
