package image

import (
	"io/fs"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The images' names, as `ctr images import` registers them.
const (
	AgentRef = "catops.local/catops-k8s:dev"
	PauseRef = "catops.local/pause:1"
	BoxRef   = "catops.local/box:1"
)

// The tarballs' file names in the images folder (.cache/node/images).
const (
	AgentTarball = "catops-k8s.tar"
	PauseTarball = "pause.tar"
	BoxTarball   = "box.tar"
)

// The agent image as Dockerfile.k8s's final stage makes it (CheckDockerfile
// compares the two):
//
//	FROM gcr.io/distroless/static:nonroot
//	COPY --from=build /src/catops-k8s /catops-k8s
//	USER 65534:65534
//	ENTRYPOINT ["/catops-k8s"]
const (
	AgentPath = "/catops-k8s"
	AgentUser = "65534:65534"
)

// Agent is the spec of the agent image: bin (the binary `make build` makes)
// copied to AgentPath on base, with the final stage's USER and ENTRYPOINT.
// As in a Dockerfile, the ENTRYPOINT drops any CMD of the base, and the
// base's WorkingDir and Env stay.
func Agent(bin Binary, base Base) Spec {
	cfg := base.Config
	cfg.Env = slices.Clone(base.Config.Env)
	cfg.User = AgentUser
	cfg.Entrypoint = []string{AgentPath}
	cfg.Cmd = nil
	return Spec{
		Ref:       AgentRef,
		Arch:      bin.Arch,
		Files:     append(slices.Clone(base.Files), File{Path: AgentPath, Mode: 0o755, Data: bin.Data}),
		Config:    cfg,
		CreatedBy: "test/node/image: Dockerfile.k8s's final stage on a stand-in for " + base.Ref,
	}
}

// Pause is the spec of the pod sandbox image (containerd's sandbox_image):
// test/node/images/pause, as registry.k8s.io/pause runs, uid and gid 65535.
func Pause(bin Binary) Spec {
	return Spec{
		Ref:   PauseRef,
		Arch:  bin.Arch,
		Files: []File{{Path: "/pause", Mode: 0o755, Data: bin.Data}},
		Config: v1.Config{
			User:       "65535:65535",
			Entrypoint: []string{"/pause"},
		},
		CreatedBy: "test/node/image: test/node/images/pause",
	}
}

// Box is the spec of the test program's image: test/node/images/box, root
// by default (a pod's securityContext can change it), `box sleep` unless
// the pod gives args, and a /tmp (1777) for `box write /tmp/... MIB`.
func Box(bin Binary) Spec {
	return Spec{
		Ref:  BoxRef,
		Arch: bin.Arch,
		Files: []File{
			{Path: "/box", Mode: 0o755, Data: bin.Data},
			{Path: "/tmp", Dir: true, Mode: 0o777 | fs.ModeSticky},
		},
		Config: v1.Config{
			Entrypoint: []string{"/box"},
			Cmd:        []string{"sleep"},
		},
		CreatedBy: "test/node/image: test/node/images/box",
	}
}
