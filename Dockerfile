# The CatOps host agent (catops), for servers without Kubernetes: a static
# binary on distroless. On a host, prefer the binary with the systemd unit
# (deploy/systemd/, README "Plain servers"); in a container it reads the
# host through read-only mounts:
#
#   docker run -d --name catops --restart=unless-stopped \
#     --pid=host --network=host --uts=host \
#     -v /proc:/host/proc:ro -v /sys:/host/sys:ro -v /:/host/root:ro,rslave \
#     -v /etc/os-release:/host/etc/os-release:ro -v /etc/machine-id:/host/etc/machine-id:ro \
#     -e HOST_PROC=/host/proc -e HOST_SYS=/host/sys -e HOST_ROOT=/host/root -e HOST_ETC=/host/etc \
#     -e CATOPS_AUTH_TOKEN_FILE=/run/secrets/catops-token -v /etc/catops/token:/run/secrets/catops-token:ro \
#     ghcr.io/catops/cli/host-agent:latest
#
# --network=host: the host's interfaces (their names, addresses, MTU);
# --uts=host: the host's name. Built by `make build-host`, as locally.
FROM --platform=$BUILDPLATFORM golang:1.27.3 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
RUN GOOS=$TARGETOS GOARCH=$TARGETARCH make build-host VERSION=$VERSION

FROM gcr.io/distroless/static:nonroot
COPY --from=build /src/catops /catops
USER 65534:65534
ENTRYPOINT ["/catops"]
