#!/usr/bin/env bash
# Measures our Greeter against the scs peer, side by side in one run:
# throughput (cmd/load), then lost updates on one session (cmd/lostupdates).
# Flags go to cmd/load, for example:
#   bench/run.sh                                   # memory, redis, postgres; 3 rounds of 10s
#   bench/run.sh -backends memory -duration 3s -rounds 1
# Needs Go, wrk, redis-server and PostgreSQL (Debian: apt-get install -y wrk redis-server postgresql).
# Results and logs go to bench-results-<time>/ under $TMPDIR (default /tmp).
set -uo pipefail
cd "$(dirname "$0")"
for tool in go wrk redis-server; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 2; }
done
out="${TMPDIR:-/tmp}/bench-results-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
status=0
go run ./cmd/load -out "$out/load" "$@" 2>&1 | tee "$out/load.txt" || status=$?
go run ./cmd/lostupdates -backends memory,redis -out "$out/lostupdates" 2>&1 | tee "$out/lostupdates.txt" || status=$?
echo "run.sh: results in $out (load.txt, lostupdates.txt, load/results.md, load/results.json)"
exit "$status"
