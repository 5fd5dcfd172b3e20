#!/usr/bin/env bash
# CPU profiles of one shoplist-bench workload (issue 11, deliverable 3):
# `perf record` on the proxy, every worker and the bench process itself (the
# clients), then a bucketed summary of where self time goes.
#
#   bash bench/profile/profile.sh W1 /tmp/prof-w1 [extra shoplist-bench args]
#
# Needs `perf` (linux-tools) and a release build of shoplist-bench (release
# keeps debuginfo, see the workspace Cargo.toml). Writes OUT/*.data,
# OUT/bench.txt and OUT/summary.txt. Flamegraphs: `perf script -i
# OUT/proxy.data | inferno-collapse-perf | inferno-flamegraph > proxy.svg`.
set -euo pipefail
cd "$(dirname "$0")/../.."
workload=${1:?workload, e.g. W1}
out=${2:?output directory}
shift 2
bin=${SHOPLIST_BENCH:-target/release/shoplist-bench}
[ -x "$bin" ] || { echo "build first: cargo build --release -p shoplist-bench" >&2; exit 2; }
command -v perf >/dev/null || { echo "perf is not installed" >&2; exit 2; }
mkdir -p "$out"
rm -f "$out"/*.data

"$bin" --only "$workload" "$@" >"$out/bench.txt" 2>&1 &
bench=$!
workers=()
proxy=
# Wait (bounded: 30 s) for the proxy and the workers to start.
for _ in $(seq 1 300); do
  proxy=$(pgrep -P "$bench" -f 'cloud-proxy' | head -n1 || true)
  mapfile -t workers < <(pgrep -P "$bench" -f 'cloud-worker' || true)
  if [ -n "$proxy" ] && [ "${#workers[@]}" -ge 1 ]; then
    sleep 0.5 # let the remaining workers of the cluster start
    mapfile -t workers < <(pgrep -P "$bench" -f 'cloud-worker' || true)
    break
  fi
  sleep 0.1
done
[ -n "$proxy" ] || { echo "no proxy appeared; see $out/bench.txt" >&2; kill "$bench" 2>/dev/null; exit 1; }

perfs=()
perf record -q -F 499 -g -p "$proxy" -o "$out/proxy.data" 2>/dev/null & perfs+=($!)
perf record -q -F 499 -g -p "$bench" -o "$out/client.data" 2>/dev/null & perfs+=($!)
for i in "${!workers[@]}"; do
  perf record -q -F 499 -g -p "${workers[$i]}" -o "$out/worker-$i.data" 2>/dev/null & perfs+=($!)
done
wait "$bench" || echo "shoplist-bench exited with $?" >&2
for p in "${perfs[@]}"; do kill -INT "$p" 2>/dev/null || true; done
for p in "${perfs[@]}"; do wait "$p" 2>/dev/null || true; done

{
  echo "# $workload: $(date -u +%FT%TZ), $(git rev-parse --short HEAD)"
  for role in proxy client; do
    python3 bench/profile/classify.py "$role" "$out/$role.data"
  done
  python3 bench/profile/classify.py worker "$out"/worker-*.data
} | tee "$out/summary.txt"
