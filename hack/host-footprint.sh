#!/usr/bin/env bash
# Measures one catops process (the host agent) on this machine against the
# reference receiver on loopback: binary size, resident memory, Go heap and
# CPU time in steady state at COLLECTION_INTERVAL=INTERVAL.
#   INTERVAL=60 SECS=600 hack/host-footprint.sh
#   HOST_TAGS= INTERVAL=60 SECS=600 hack/host-footprint.sh   # with HTTP/2
#   SCRAPE=60 INTERVAL=60 SECS=600 hack/host-footprint.sh    # /metrics read every 60 s
# The binary is built by `make build-host` (static, stripped, no HTTP/2).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
cd "$(dirname "$0")/.."
INTERVAL=${INTERVAL:-60}
SECS=${SECS:-600}
SCRAPE=${SCRAPE:-0} # seconds between reads of /metrics while measuring; 0: none
mkdir -p bin
make -s --no-print-directory build-host HOST_OUT=bin/catops ${HOST_TAGS+"HOST_TAGS=$HOST_TAGS"}
go build -o bin/catops-receiver ./cmd/catops-receiver
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
echo bench > "$tmp/token"

bin/catops-receiver --addr 127.0.0.1:18200 --token bench >/dev/null 2>&1 &
pids+=($!)
CATOPS_AUTH_TOKEN_FILE=$tmp/token CATOPS_BACKEND_URL=http://127.0.0.1:18200 COLLECTION_INTERVAL=$INTERVAL \
  CATOPS_HEALTH_ADDR=127.0.0.1:18280 CATOPS_SPOOL_DIR=$tmp/spool bin/catops 2>"$tmp/log" &
agent=$!
pids+=("$agent")

# CPU time of every thread in nanoseconds (schedstat; /proc/<pid>/stat's
# 10 ms ticks are too coarse for well under a millicore).
cpu() { cat /proc/"$agent"/task/*/schedstat | awk '{ns += $1} END {printf "%.0f", ns}'; }
# CPU time of the processes it ran and waited for (cutime + cstime, in
# clock ticks): gopsutil runs lsb_release where /etc has no lsb-release.
children() { awk '{ sub(/^.*\) /, ""); print $14 + $15 }' /proc/"$agent"/stat; }
sleep 20 # start-up and the first snapshot are not steady state
c0=$(cpu) k0=$(children)
if ((SCRAPE > 0)); then
  for ((t = 0; t + SCRAPE <= SECS; t += SCRAPE)); do
    sleep "$SCRAPE"
    curl -s -o /dev/null 127.0.0.1:18280/metrics
  done
  sleep $((SECS - t))
else
  sleep "$SECS"
fi
c1=$(cpu) k1=$(children)
tck=$(getconf CLK_TCK)
kill -0 "$agent" || { echo "catops exited:"; cat "$tmp/log"; exit 1; }
rss=$(awk '/^VmRSS/{print $2}' "/proc/$agent/status")
hwm=$(awk '/^VmHWM/{print $2}' "/proc/$agent/status")
anon=$(awk '/^RssAnon/{print $2}' "/proc/$agent/status")
file=$(awk '/^RssFile/{print $2}' "/proc/$agent/status")
heap=$(curl -s 127.0.0.1:18280/metrics | awk '/^go_memstats_heap_inuse_bytes /{print $2}')
sent=$(curl -s 127.0.0.1:18280/metrics | awk '/^catops_batches_sent_total /{print $2}')
size=$(stat -c %s bin/catops)
awk -v s="$SECS" -v i="$INTERVAL" -v c0="$c0" -v c1="$c1" -v rss="$rss" -v hwm="$hwm" -v anon="$anon" -v file="$file" \
  -v heap="$heap" -v size="$size" -v sent="$sent" -v k0="$k0" -v k1="$k1" -v tck="$tck" -v scrape="$SCRAPE" 'BEGIN {
  printf "binary: %.1f MB (static, stripped)\n", size / 1e6
  printf "interval: %d s; measured over %d s after 20 s of start-up; batches sent: %s; /metrics read every %s s (0: never)\n", i, s, sent, scrape
  printf "RSS: %.1f MiB (peak %.1f MiB): anonymous %.1f MiB, file-backed %.1f MiB\n", rss / 1024, hwm / 1024, anon / 1024, file / 1024
  printf "Go heap in use: %.1f MiB\n", heap / 1048576
  printf "CPU: %.3f millicores (%.3f s of CPU); processes it ran: %.3f s of CPU\n", (c1 - c0) / 1e9 / s * 1000, (c1 - c0) / 1e9, (k1 - k0) / tck
}'
