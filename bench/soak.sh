#!/usr/bin/env bash
# Bounded soak of `face-service serve`: a steady load for DURATION, reported
# window by window (latency percentiles, errors, resident memory), failing on
# any error or on memory growth past a bound. Figures: tests/server/HOSTILE.md.
#
#   bench/soak.sh [FACE_SERVICE [PHOTO]]
#
# FACE_SERVICE defaults to build/release/face-service, PHOTO to the real
# 1024x768 WIDER FACE crowd photo bench/http_load.sh uses, read from
# ../shared (never copied). Exit 77 (skipped) without wrk, curl or the photo.
#
# The load: wrk, closed loop, CONNECTIONS (1) connections posting PHOTO
# (bench/post_photo.lua) back to back, one wrk run per WINDOW. wrk2, which
# holds a request rate, is not in Debian; a fixed low concurrency on a fixed
# photo is a steady load too: the service always has exactly CONNECTIONS
# requests in hand, so its work per second is its capacity at that
# concurrency, with no queue building up and no idle gaps, and any drift
# (slower requests, growing memory) shows from one window to the next
# instead of being absorbed by a rate the service could not hold.
#
# Each window: requests, images/s, p50 / p95 / p99 / max latency (wrk
# --latency over that window), errors (socket errors, timeouts, non-2xx),
# the server's VmRSS and VmHWM at the window's end (once idle) and the
# machine's 1-minute load average. Before the first window, WARMUP requests
# two at a time (both request threads have detected, so their buffers are
# taken); VmRSS then is the baseline. The growth is the last window's VmRSS
# minus the baseline.
#
# Settings (environment): DURATION (10m; N, Ns or Nm), WINDOW (60s),
# CONNECTIONS (1), SERVER_THREADS (2), MAX_GROWTH_MIB (40), WARMUP (4),
# WRK_TIMEOUT (60s). The queue (--max-queue) holds every connection, so a
# 503 is an error here too. Exit status: 0, 1 on an error, a growth past
# MAX_GROWTH_MIB, or a server that did not exit 0 on SIGTERM.
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${1:-$root/build/release/face-service}
photo=${2:-$root/../shared/eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_470.jpg}
lua=$root/bench/post_photo.lua
window=${WINDOW:-60s}
connections=${CONNECTIONS:-1}
server_threads=${SERVER_THREADS:-2}
max_growth=${MAX_GROWTH_MIB:-40}
warmup=${WARMUP:-4}
wrk_timeout=${WRK_TIMEOUT:-60s}

say() { echo "soak.sh: $*" >&2; }
seconds() {  # "90", "90s", "10m" -> seconds
  case $1 in
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}
duration_s=$(seconds "${DURATION:-10m}")
window_s=$(seconds "$window")
((duration_s > 0 && window_s > 0)) || { say "DURATION and WINDOW must be positive"; exit 2; }

command -v wrk > /dev/null || { say "skipped: needs wrk (Debian: apt-get install wrk)"; exit 77; }
command -v curl > /dev/null || { say "skipped: needs curl"; exit 77; }
[ -f "$photo" ] || { say "skipped: no photo $photo (../shared absent?)"; exit 77; }
[ -x "$bin" ] || { say "$bin is not an executable (build it first)"; exit 1; }

logs=$(mktemp -d /tmp/soak.XXXXXX)
pid=
cleanup() { if [ -n "$pid" ]; then kill -KILL "$pid" 2> /dev/null || true; fi; }
trap cleanup EXIT
fail() {
  say "FAIL: $*"
  [ -f "$logs/server.log" ] && { echo "--- server log" >&2; tail -20 "$logs/server.log" >&2; }
  exit 1
}

port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2> /dev/null ||
  echo $((20000 + RANDOM % 40000)))
base=http://127.0.0.1:$port
"$bin" serve --host 127.0.0.1 --port "$port" --threads "$server_threads" --max-queue $((connections * 2)) \
  2> "$logs/server.log" &
pid=$!
for _ in $(seq 600); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ] && break
  kill -0 "$pid" 2> /dev/null || fail "the server exited during start-up"
  sleep 0.05
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ] || fail "not ready within 30 s"

memory() { awk -v key="$1:" '$1 == key { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }
detect() { curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: image/jpeg' --data-binary "@$photo" "$base/api/detect"; }
# Until no request waits and the scrape is the only one in flight: a request
# wrk had in flight when its run ended still runs on the server.
wait_idle() {
  for _ in $(seq 1200); do
    curl -s "$base/metrics" > "$logs/metrics" || true
    if grep -qx 'face_service_queue_depth 0' "$logs/metrics" &&
      grep -qx 'face_service_http_requests_in_flight 1' "$logs/metrics"; then
      return 0
    fi
    sleep 0.1
  done
  fail "the server was still busy 120 s after a window"
}

for ((i = 0; i < warmup; i += 2)); do
  detect > "$logs/w1" &
  w=$!
  [ "$(detect)" = 200 ] || fail "warm-up request not answered 200"
  wait "$w"
  [ "$(cat "$logs/w1")" = 200 ] || fail "warm-up request not answered 200"
done
wait_idle
rss_warm=$(memory VmRSS)
hwm_warm=$(memory VmHWM)
say "pid $pid, port $port, $server_threads threads, $connections connections, DURATION ${duration_s}s in windows of ${window_s}s"
say "after warm-up ($warmup requests): VmRSS $rss_warm MiB, VmHWM $hwm_warm MiB"

rows=()
errors_total=0
requests_total=0
elapsed=0
n=0
while ((elapsed < duration_s)); do
  d=$((duration_s - elapsed < window_s ? duration_s - elapsed : window_s))
  n=$((n + 1))
  status=0
  wrk -t 1 -c "$connections" -d "${d}s" --timeout "$wrk_timeout" --latency -s "$lua" \
    "$base/api/detect" -- "$photo" > "$logs/window-$n.txt" 2>&1 || status=$?
  ((status == 0)) || fail "wrk exited with status $status: $(cat "$logs/window-$n.txt")"
  line=$(grep '^RESULT ' "$logs/window-$n.txt") || fail "no RESULT line from wrk: $(cat "$logs/window-$n.txt")"
  declare -A r=()
  for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  kill -0 "$pid" 2> /dev/null || fail "the server died in window $n"
  wait_idle
  errors=$((r[connect] + r[read] + r[write] + r[timeout] + r[non2xx]))
  errors_total=$((errors_total + errors))
  requests_total=$((requests_total + r[requests]))
  rss=$(memory VmRSS)
  load=$(cut -d' ' -f1 /proc/loadavg)
  row=$(awk -v n="$n" -v end=$((elapsed + d)) -v req="${r[requests]}" -v us="${r[duration_us]}" \
    -v p50="${r[p50_us]}" -v p95="${r[p95_us]}" -v p99="${r[p99_us]}" -v max="${r[max_us]}" \
    -v err="$errors" -v rss="$rss" -v warm="$rss_warm" -v load="$load" 'BEGIN {
      printf "| %d (to %d s) | %d | %.2f | %.0f | %.0f | %.0f | %.0f | %d | %.1f (%+.1f) | %s |",
        n, end, req, req / (us / 1e6), p50 / 1000, p95 / 1000, p99 / 1000, max / 1000, err, rss, rss - warm, load }')
  rows+=("$row")
  say "window $row"
  elapsed=$((elapsed + d))
done

rss_end=$(memory VmRSS)
hwm_end=$(memory VmHWM)
growth=$(awk -v a="$rss_warm" -v b="$rss_end" 'BEGIN { printf "%+.1f", b - a }')
kill -TERM "$pid"
exit_status=0
wait "$pid" || exit_status=$?
pid=

cat << EOF

face-service serve: $bin, $server_threads threads; photo: $photo ($(stat -c %s "$photo") bytes)
wrk -t 1 -c $connections, closed loop, ${window_s} s windows; $(nproc) CPUs

| window | requests | images/s | p50 ms | p95 ms | p99 ms | max ms | errors | VmRSS MiB (vs warm-up) | load avg |
|---|---|---|---|---|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

requests $requests_total, errors $errors_total; VmRSS after warm-up $rss_warm MiB (VmHWM $hwm_warm), at the end $rss_end MiB (VmHWM $hwm_end): growth $growth MiB (bound $max_growth); SIGTERM: exit status $exit_status
EOF

((errors_total == 0)) || fail "$errors_total errors"
awk -v g="$growth" -v b="$max_growth" 'BEGIN { exit !(g <= b) }' || fail "VmRSS grew by $growth MiB, over $max_growth MiB"
((exit_status == 0)) || fail "exit status $exit_status after SIGTERM"
rm -rf "$logs"  # kept when the soak fails
say "passed"
