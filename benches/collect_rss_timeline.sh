#!/bin/bash
# The collector process over a full simulated hour, as `cargo bench --bench
# collect` runs it (62 samples: the hour's 60 ticks, its close and publish,
# the partial hour at exit), with its RSS written every ~0.1 s so a peak can
# be placed in time (docs/performance.md, issue 21).
#
#   benches/collect_rss_timeline.sh KUBETALLY_BINARY PODS OUT_DIR
#
# INTERVAL (default 10ms, the bench's) sets the collector's --interval.
#
# OUT_DIR/rss.txt: seconds since the collector started, VmRSS KiB, VmHWM KiB,
# lines of the collector's log so far, user + system CPU seconds so far.
# OUT_DIR/collect.log: its log.
set -euo pipefail
if [ $# -ne 3 ]; then
    echo "usage: $0 KUBETALLY_BINARY PODS OUT_DIR" >&2
    exit 2
fi
bin=$1 pods=$2 out=$3
rm -rf "$out"
mkdir -p "$out"
"$bin" sim serve --listen 127.0.0.1:0 --step 60s --nodes $((pods / 30)) --pods "$pods" \
    --claims $((pods / 5)) --kubeconfig-out "$out/kubeconfig" >/dev/null 2>"$out/sim.log" &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
until grep -q "server: http" "$out/kubeconfig" 2>/dev/null; do sleep 0.2; done
start=$(date +%s.%N)
"$bin" collect --kubeconfig "$out/kubeconfig" --out "$out/data" --interval "${INTERVAL:-10ms}" \
    --samples 62 --listen none >/dev/null 2>"$out/collect.log" &
collector=$!
while kill -0 $collector 2>/dev/null; do
    status=$(cat /proc/$collector/status 2>/dev/null || true)
    rss=$(awk '/^VmRSS/ {print $2}' <<<"$status")
    hwm=$(awk '/^VmHWM/ {print $2}' <<<"$status")
    # utime and stime, in clock ticks (the name has no spaces: fields 14, 15).
    ticks=$(awk '{print $14 + $15}' /proc/$collector/stat 2>/dev/null || true)
    cpu=""
    [ -n "$ticks" ] && cpu=$(echo "scale=2; $ticks / $(getconf CLK_TCK)" | bc)
    echo "$(echo "$(date +%s.%N) - $start" | bc) $rss $hwm $(wc -l <"$out/collect.log") $cpu" >>"$out/rss.txt"
    sleep 0.1
done
wait $collector
echo "peak RSS: $(awk '{print $3}' "$out/rss.txt" | sort -n | tail -1) KiB"
echo "CPU: $(awk '$5 != "" {cpu = $5} END {print cpu}' "$out/rss.txt") s (user + system, at the last reading)"
