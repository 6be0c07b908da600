//go:build tools

// Package tools records the command built from this module so that
// `go mod tidy` keeps its dependencies. The etcd server's main package is the
// root of its module.
package tools

import _ "go.etcd.io/etcd/server/v3"
