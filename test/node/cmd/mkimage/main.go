// Command mkimage writes the real-node rig's image tarballs from static
// binaries, without a container engine (hack/node-images.sh, `make
// node-images`):
//
//	mkimage -out DIR [-agent BIN [-cluster-reporter BIN]] [-pause BIN] [-box BIN] [-dockerfile Dockerfile.k8s] [-ca-bundle FILE]
//
// The agent image holds the two binaries `make build` writes, catops-k8s
// (-agent) and catops-k8s-cluster (-cluster-reporter; by default the file of
// that name beside -agent), side by side as Dockerfile.k8s copies them. It is
// checked against the Dockerfile's final stage first; a difference stops it.
// A tarball whose image is unchanged is left as it is.
// See package github.com/catops/cli/test/node/image.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/catops/cli/test/node/image"
)

// Options are mkimage's flags.
type Options struct {
	Out   string
	Agent string
	// Cluster is the cluster reporter; "": ClusterBinaryName beside Agent.
	Cluster    string
	Pause      string
	Box        string
	Dockerfile string
	CABundle   string
}

// NewOptions holds the defaults.
func NewOptions() *Options {
	return &Options{Dockerfile: "Dockerfile.k8s", CABundle: image.CABundlePath}
}

// Bind registers the flags.
func (o *Options) Bind(fl *flag.FlagSet) {
	fl.StringVar(&o.Out, "out", o.Out, "folder for the tarballs (created if missing)")
	fl.StringVar(&o.Agent, "agent", o.Agent, "the agent binary (as `make build` makes it): writes "+image.AgentTarball+", with -cluster-reporter")
	fl.StringVar(&o.Cluster, "cluster-reporter", o.Cluster, "the cluster reporter binary (as `make build` makes it), packed beside the agent; "+
		"empty: "+image.ClusterBinaryName+" in the folder of -agent")
	fl.StringVar(&o.Pause, "pause", o.Pause, "the pause binary (test/node/images/pause): writes "+image.PauseTarball)
	fl.StringVar(&o.Box, "box", o.Box, "the box binary (test/node/images/box): writes "+image.BoxTarball)
	fl.StringVar(&o.Dockerfile, "dockerfile", o.Dockerfile, "the Dockerfile whose final stage the agent image must match")
	fl.StringVar(&o.CABundle, "ca-bundle", o.CABundle, "CA bundle for the agent image (Debian package ca-certificates); empty: none")
}

// Validate checks the flags against each other.
func (o *Options) Validate() error {
	if o.Out == "" {
		return errors.New("-out is required: the folder for the tarballs")
	}
	if o.Agent == "" && o.Pause == "" && o.Box == "" {
		return errors.New("nothing to build: give -agent, -pause and/or -box")
	}
	if o.Cluster != "" && o.Agent == "" {
		return errors.New("-cluster-reporter needs -agent: it is packed into the agent image")
	}
	if o.Agent != "" && o.Dockerfile == "" {
		return errors.New("-agent needs -dockerfile, to check the image against its final stage")
	}
	return nil
}

// ClusterBinary is the cluster reporter's file: -cluster-reporter, or
// catops-k8s-cluster in the folder of -agent.
func (o *Options) ClusterBinary() string {
	if o.Cluster != "" || o.Agent == "" {
		return o.Cluster
	}
	return filepath.Join(filepath.Dir(o.Agent), image.ClusterBinaryName)
}

func main() {
	o := NewOptions()
	fl := flag.NewFlagSet("mkimage", flag.ExitOnError)
	o.Bind(fl)
	_ = fl.Parse(os.Args[1:])
	if fl.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mkimage: unexpected arguments %q\n", fl.Args())
		os.Exit(2)
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := Run(ctx, o, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
}

// Run builds and writes the images the options ask for.
func Run(ctx context.Context, o *Options, out io.Writer) error {
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	type job struct {
		bin, tarball string
		spec         func(image.Binary) (image.Spec, error)
	}
	var (
		jobs []job
		base image.Base
	)
	if o.Agent != "" {
		ca, err := caBundle(o.CABundle, out)
		if err != nil {
			return err
		}
		base = image.Distroless(ca)
		clusterBin := o.ClusterBinary()
		jobs = append(jobs, job{o.Agent, image.AgentTarball, func(agent image.Binary) (image.Spec, error) {
			cluster, err := image.ReadBinary(clusterBin)
			if errors.Is(err, fs.ErrNotExist) {
				return image.Spec{}, fmt.Errorf("the cluster reporter: %w (make build writes %s beside %s; give -cluster-reporter)",
					err, image.ClusterBinaryName, image.AgentBinaryName)
			}
			if err != nil {
				return image.Spec{}, err
			}
			return image.Agent(agent, cluster, base)
		}})
	}
	if o.Pause != "" {
		jobs = append(jobs, job{o.Pause, image.PauseTarball, plain(image.Pause)})
	}
	if o.Box != "" {
		jobs = append(jobs, job{o.Box, image.BoxTarball, plain(image.Box)})
	}
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		bin, err := image.ReadBinary(j.bin)
		if err != nil {
			return err
		}
		spec, err := j.spec(bin)
		if err != nil {
			return err
		}
		img, err := image.Build(spec)
		if err != nil {
			return err
		}
		if spec.Ref == image.AgentRef {
			diffs, err := image.CheckDockerfile(o.Dockerfile, base, img)
			if err != nil {
				return err
			}
			if len(diffs) > 0 {
				return fmt.Errorf("the agent image and %s disagree (fix one side; test/node/image/images.go):\n  %s",
					o.Dockerfile, strings.Join(diffs, "\n  "))
			}
		}
		if err := save(filepath.Join(o.Out, j.tarball), spec.Ref, img, out); err != nil {
			return err
		}
	}
	return nil
}

func plain(f func(image.Binary) image.Spec) func(image.Binary) (image.Spec, error) {
	return func(b image.Binary) (image.Spec, error) { return f(b), nil }
}

// caBundle reads the CA bundle for the agent image; a missing one is left
// out with a message.
func caBundle(file string, out io.Writer) ([]byte, error) {
	if file == "" {
		return nil, nil
	}
	ca, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(out, "mkimage: no CA bundle at %s (Debian: apt-get install ca-certificates): the agent image has none, "+
			"so the agent trusts no public CA (the API server through its service-account ca.crt and a backend through CATOPS_BACKEND_CA_FILE still work)\n", file)
		return nil, nil
	}
	return ca, err
}

// save writes img unless file already holds the same image, then reads it
// back as containerd's importer would (by its tag) and checks the digest.
func save(file, ref string, img v1.Image, out io.Writer) error {
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	state := "written"
	if old, err := image.Read(file, ref); err == nil {
		if d, err := old.Digest(); err == nil && d == digest {
			state = "unchanged"
		}
	}
	if state == "written" {
		if err := image.Write(file, ref, img); err != nil {
			return err
		}
		back, err := image.Read(file, ref)
		if err != nil {
			return err
		}
		d, err := back.Digest()
		if err != nil {
			return fmt.Errorf("%s: read back: %w", file, err)
		}
		if d != digest {
			return fmt.Errorf("%s: read back digest %v, wrote %v", file, d, digest)
		}
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%-28s %-15s %6.1f MiB  %s\n  image ID %s\n  digest   %s\n",
		ref, filepath.Base(file), float64(st.Size())/(1<<20), state, id, digest)
	return nil
}
