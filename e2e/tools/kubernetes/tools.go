// Package tools pins the Kubernetes release whose binaries e2e/ builds with `go build`: the
// control plane (kube-apiserver, kube-controller-manager, kubectl) and the node (kube-scheduler,
// kubelet). go.sum holds what all five import (`go get` of each command at this version).
package tools
