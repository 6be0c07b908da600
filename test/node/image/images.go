package image

import (
	"fmt"
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
//	COPY --from=build /src/catops-k8s-cluster /catops-k8s-cluster
//	USER 65534:65534
//	ENTRYPOINT ["/catops-k8s"]
//
// The chart's cluster-reporter Deployment runs it with args ["cluster"]:
// catops-k8s then execs ClusterPath, beside AgentPath.
const (
	AgentPath   = "/" + AgentBinaryName
	ClusterPath = "/" + ClusterBinaryName
	AgentUser   = "65534:65534"
)

// Agent is the spec of the agent image: agent and cluster (the binaries
// `make build` makes, catops-k8s and catops-k8s-cluster) copied to AgentPath
// and ClusterPath on base, with the final stage's USER and ENTRYPOINT. As in
// a Dockerfile, the ENTRYPOINT drops any CMD of the base, and the base's
// WorkingDir and Env stay. The two binaries must be for one architecture.
func Agent(agent, cluster Binary, base Base) (Spec, error) {
	if agent.Arch != cluster.Arch {
		return Spec{}, fmt.Errorf("the agent binary is for %s, the cluster reporter's for %s: build both with one GOARCH (make build)",
			agent.Arch, cluster.Arch)
	}
	cfg := base.Config
	cfg.Env = slices.Clone(base.Config.Env)
	cfg.User = AgentUser
	cfg.Entrypoint = []string{AgentPath}
	cfg.Cmd = nil
	files := append(slices.Clone(base.Files),
		File{Path: AgentPath, Mode: 0o755, Data: agent.Data},
		File{Path: ClusterPath, Mode: 0o755, Data: cluster.Data})
	return Spec{
		Ref:       AgentRef,
		Arch:      agent.Arch,
		Files:     files,
		Config:    cfg,
		CreatedBy: "test/node/image: Dockerfile.k8s's final stage on a stand-in for " + base.Ref,
	}, nil
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
