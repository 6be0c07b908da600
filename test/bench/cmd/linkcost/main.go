// Command linkcost measures what linking a package costs a process that
// never uses it: it builds two programs that import the package in -base
// (default pkg/podcache, what the node agent imports), one of them also the
// package in -with (default client-go's leader election, what the cluster
// reporter needs), starts each, and prints its size and idle resident
// memory after a GC, split into anonymous and file-backed pages
// (/proc/self/status). Go runs every linked package's init: a package that
// registers every built-in API group pays for it in every process that
// links it.
//
//	go run ./test/bench/cmd/linkcost
//	go run ./test/bench/cmd/linkcost -base github.com/catops/cli/pkg/backendclient -with github.com/prometheus/client_golang/prometheus
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const program = `package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	%s
	%s
)

func main() {
	runtime.GC()
	time.Sleep(200 * time.Millisecond)
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "RssAnon") || strings.HasPrefix(l, "RssFile") {
			f := strings.Fields(l)
			fmt.Print(f[0], f[1], " ")
		}
	}
	fmt.Println()
}
`

func main() {
	with := flag.String("with", "k8s.io/client-go/tools/leaderelection", "the package whose cost is measured")
	base := flag.String("base", "github.com/catops/cli/pkg/podcache", "the package both programs import")
	runs := flag.Int("runs", 3, "runs of each program")
	flag.Parse()
	dir, err := os.MkdirTemp(".", ".linkcost-") // inside the module, for its go.mod
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	for _, v := range []struct{ name, imp string }{{"without", ""}, {"with " + *with, `_ "` + *with + `"`}} {
		src := filepath.Join(dir, "main.go")
		if err := os.WriteFile(src, []byte(fmt.Sprintf(program, `_ "`+*base+`"`, v.imp)), 0o600); err != nil {
			fail(err)
		}
		bin := filepath.Join(dir, "prog")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./"+dir)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fail(fmt.Errorf("go build: %w: %s", err, out))
		}
		st, err := os.Stat(bin)
		if err != nil {
			fail(err)
		}
		fmt.Printf("%-50s binary %5.1f MB\n", v.name, float64(st.Size())/1e6)
		for range *runs {
			out, err := exec.Command(bin).Output() //nolint:gosec // the program just built
			if err != nil {
				fail(err)
			}
			fmt.Printf("    %s\n", strings.TrimSpace(string(out)))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "linkcost:", err)
	os.Exit(1)
}
