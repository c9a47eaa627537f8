// Package tools pins the containerd release (daemon, runc shim, ctr) that e2e/build.sh builds
// with `go build` for the local node (e2e/node/).
package tools
