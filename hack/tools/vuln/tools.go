//go:build tools

// Package tools records the commands built from this module so that
// `go mod tidy` keeps their dependencies.
package tools

import (
	_ "golang.org/x/vuln/cmd/govulncheck"
	_ "golang.org/x/vulndb/cmd/indexdb"
)
