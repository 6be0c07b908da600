package image

import (
	"io/fs"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DistrolessRef is the base image of Dockerfile.k8s's final stage.
const DistrolessRef = "gcr.io/distroless/static:nonroot"

// CABundlePath is where distroless (and Debian's ca-certificates) keep the
// trust roots, and what distroless's SSL_CERT_FILE names.
const CABundlePath = "/etc/ssl/certs/ca-certificates.crt"

// Distroless uids and gids (rules_distroless passwd/group entries).
const (
	uidNobody  = 65534
	uidNonroot = 65532
)

// Base stands in for an image the rig cannot pull: the files and the config
// that an image built FROM it inherits.
type Base struct {
	Ref    string
	Files  []File
	Config v1.Config
}

// Distroless is a stand-in for gcr.io/distroless/static:nonroot (Debian 12),
// with what the agent relies on and what shapes how a runtime starts it:
//
//   - /etc/passwd and /etc/group with distroless's entries: root (0),
//     nobody (65534, the agent's USER) and nonroot (65532, the base's USER);
//   - the CA bundle at /etc/ssl/certs/ca-certificates.crt (caBundle; left out
//     when nil), read by crypto/x509 for the backend's TLS;
//   - /etc/nsswitch.conf ("hosts: files dns", read by Go's resolver);
//   - /tmp (1777), /root (0700), /home (0755) and /home/nonroot (0700,
//     65532:65532): the config's working directory, which the agent, running
//     as 65534, may not enter (runc >= 1.0.0-rc94 changes into it as root
//     before switching user; crun and user namespaces refuse: distroless
//     issue 718);
//   - config: User 65532, WorkingDir /home/nonroot, PATH and SSL_CERT_FILE.
//
// Left out, as the agent uses none of them: base-files (/etc/os-release,
// licences), netbase (/etc/services, /etc/protocols), tzdata
// (/usr/share/zoneinfo: the agent logs and sends UTC), media-types
// (/etc/mime.types) and the Debian package records (/var/lib/dpkg/status.d).
func Distroless(caBundle []byte) Base {
	files := []File{
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n" +
				"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
				"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(
			"root:x:0:\n" +
				"nobody:x:65534:\n" +
				"tty:x:5:\n" +
				"staff:x:50:\n" +
				"nonroot:x:65532:\n")},
		{Path: "/etc/nsswitch.conf", Mode: 0o644, Data: []byte(
			"passwd: files\ngroup: files\nhosts: files dns\n")},
		{Path: "/tmp", Dir: true, Mode: 0o777 | fs.ModeSticky},
		{Path: "/root", Dir: true, Mode: 0o700},
		{Path: "/home", Dir: true, Mode: 0o755},
		{Path: "/home/nonroot", Dir: true, Mode: 0o700, UID: uidNonroot, GID: uidNonroot},
	}
	if caBundle != nil {
		files = append(files, File{Path: CABundlePath, Mode: 0o644, Data: caBundle})
	}
	return Base{
		Ref:   DistrolessRef,
		Files: files,
		Config: v1.Config{
			User:       "65532",
			WorkingDir: "/home/nonroot",
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"SSL_CERT_FILE=" + CABundlePath,
			},
		},
	}
}
