#!/usr/bin/env bash
# Closed-loop HTTP load test of `face-service serve` with wrk: start-up time,
# throughput and latency at several concurrencies, resident memory over many
# requests, and a clean SIGTERM. The figures are in bench/RESULTS.md ("Over
# HTTP (wrk)").
#
#   bench/http_load.sh [FACE_SERVICE [PHOTO]]
#
# FACE_SERVICE defaults to build/release/face-service, PHOTO to a real
# 1024x768 WIDER FACE photo in ../shared (exit 77 when it is absent; nothing
# from ../shared is copied anywhere).
#
# Needs wrk (Debian: apt-get install wrk); the rest is bash and /proc.
#
# What it does:
# 1. starts `face-service serve --host 127.0.0.1 --port P --threads 2
#    --max-queue 16` (mode default, every other setting default; see
#    MAX_QUEUE below) on a free port, and times the
#    first 200 from GET /readyz, polled every 5 ms over bash's /dev/tcp;
# 2. warm-up: WARMUP requests, two at a time (so that both request threads
#    have run a detection), then VmRSS and VmHWM from /proc/PID/status;
# 3. one closed-loop wrk run per concurrency c in CONCURRENCY
#    (wrk -t min(c,2) -c c -d DURATION --latency -s bench/post_photo.lua):
#    images/s, p50 / p95 / p99 latency, errors (socket errors, timeouts,
#    non-2xx replies), and the CPU the server and everything else (wrk
#    included) used, as shares of the whole machine (/proc/stat);
# 4. more requests at concurrency 2 until TOTAL replies have been counted
#    since start (warm-up included; a request still in flight when a wrk
#    run ends is not counted), then VmRSS again, once the request threads
#    are idle (two last requests at once, both answered);
# 5. prints Markdown tables, stops the server with SIGTERM and requires exit
#    status 0.
#
# Settings (environment): DURATION (120s), CONCURRENCY ("1 4 16"), TOTAL
# (5000), WARMUP (6), SERVER_THREADS (2), WRK_TIMEOUT (120s), MAX_QUEUE
# (the largest concurrency). The queue must hold every client: with the
# service's default (2 x threads) the requests past it are answered 503 at
# once, which is the point of the bound but not a latency figure (run with
# MAX_QUEUE=4 to see it: bench/RESULTS.md has one such run). At
# concurrency 16 with two request threads a request waits for ~8 others,
# tens of seconds on a small machine: the window must hold several of those
# rounds, and wrk's default timeout (2 s) would count nearly every request
# as a timeout and leave it out of the latencies.
#
# wrk runs on the same machine and takes some of its CPU from the server.
set -euo pipefail
export LC_ALL=C  # EPOCHREALTIME and printf with a decimal point

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${1:-$root/build/release/face-service}
photo=${2:-$root/../shared/eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_470.jpg}
lua=$root/bench/post_photo.lua
duration=${DURATION:-120s}
concurrency=${CONCURRENCY:-1 4 16}
total_target=${TOTAL:-5000}
warmup=${WARMUP:-6}
server_threads=${SERVER_THREADS:-2}
wrk_timeout=${WRK_TIMEOUT:-120s}
max_queue=${MAX_QUEUE:-$(printf '%s\n' $concurrency | sort -n | tail -1)}

command -v wrk > /dev/null || {
  echo "http_load.sh: needs wrk, which is not installed (Debian: apt-get install wrk)" >&2
  exit 1
}
[ -f "$photo" ] || { echo "http_load.sh: skipped: no photo $photo (../shared absent?)" >&2; exit 77; }
[ -x "$bin" ] || { echo "http_load.sh: $bin is not an executable (build it first)" >&2; exit 1; }

logs=$(mktemp -d /tmp/http_load.XXXXXX)
pid=
cleanup() { if [ -n "$pid" ]; then kill -KILL "$pid" 2> /dev/null || true; fi; }
trap cleanup EXIT
say() { echo "http_load.sh: $*" >&2; }
fail() {
  say "FAIL: $*"
  [ -f "$logs/server.log" ] && { echo "--- server log" >&2; tail -20 "$logs/server.log" >&2; }
  exit 1
}

now_us() { local t=$EPOCHREALTIME; now=${t/./}; }  # sets $now, microseconds, without a subshell

free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# request OUT METHOD PATH [BODY_FILE]: one request on a fresh connection
# (Connection: close); the reply lands in OUT; true on a 200.
request() {
  local out=$1 method=$2 path=$3 body=${4:-}
  (
    exec 3<> "/dev/tcp/127.0.0.1/$port"
    if [ -n "$body" ]; then
      printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: image/jpeg\r\nContent-Length: %s\r\n\r\n' \
        "$method" "$path" "$(stat -c %s "$body")" >&3
      cat "$body" >&3
    else
      printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$method" "$path" >&3
    fi
    cat <&3 > "$out"
  ) 2> /dev/null || return 1
  [[ $(head -c 12 "$out") == "HTTP/1.1 200" ]]
}

# Waits until the server has nothing to do (GET /metrics: no request waits,
# and the scrape is the only one in flight). wrk stops by closing its
# connections, and the requests it had sent still run and wait: the next
# run would otherwise start with them in the queue (and its first clients
# answered 503 when they fill it).
wait_idle() {
  local m="$logs/metrics"
  for _ in $(seq 1200); do
    if request "$m" GET /metrics && grep -qx 'face_service_queue_depth 0' "$m" &&
      grep -qx 'face_service_http_requests_in_flight 1' "$m"; then
      return 0
    fi
    sleep 0.1
  done
  fail "the server was still busy 120 s after the last run"
}

# The machine's CPU time and the server's, in clock ticks (both cores).
cpu_sample() {
  local _ u n s i w q sq st
  read -r _ u n s i w q sq st _ < /proc/stat
  cpu_total=$((u + n + s + i + w + q + sq + st))
  cpu_busy=$((u + n + s + q + sq + st))
  cpu_server=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")  # utime + stime, all threads
}

# VmRSS / VmHWM of the server, in MiB with one decimal.
memory() { awk -v key="$1:" '$1 == key { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }

# run_wrk NAME CONNECTIONS DURATION: one closed-loop wrk run; its output in
# $logs/NAME.txt; sets the associative array r from the RESULT line.
declare -A r
served=0
run_wrk() {
  local name=$1 c=$2 d=$3
  local t=$((c < 2 ? c : 2))
  wait_idle
  say "$name: wrk -t $t -c $c -d $d --timeout $wrk_timeout"
  cpu_sample
  local total0=$cpu_total busy0=$cpu_busy server0=$cpu_server
  local status=0 line kv
  wrk -t "$t" -c "$c" -d "$d" --timeout "$wrk_timeout" --latency -s "$lua" \
    "http://127.0.0.1:$port/api/detect" -- "$photo" > "$logs/$name.txt" 2>&1 || status=$?
  ((status == 0)) || fail "wrk exited with status $status (over 128: killed by signal $((status - 128))): $(cat "$logs/$name.txt")"
  line=$(grep '^RESULT ' "$logs/$name.txt") || fail "no RESULT line from wrk: $(cat "$logs/$name.txt")"
  r=()
  for kv in ${line#RESULT }; do r[${kv%%=*}]=${kv#*=}; done
  kill -0 "$pid" 2> /dev/null || fail "the server died during $name"
  served=$((served + r[requests]))
  cpu_sample
  cpu_share=$(awk -v t=$((cpu_total - total0)) -v b=$((cpu_busy - busy0)) -v s=$((cpu_server - server0)) \
    'BEGIN { if (t <= 0) t = 1; printf "%.0f%% / %.0f%%", 100 * s / t, 100 * (b - s) / t }')
}
errors_of() {  # the errors of the last run, in words ("0" when none)
  local words=() k
  for k in connect read write timeout; do ((r[$k] == 0)) || words+=("$k ${r[$k]}"); done
  ((r[non2xx] == 0)) || words+=("non-2xx ${r[non2xx]}")
  if ((${#words[@]} == 0)); then echo 0; else
    local joined
    joined=$(IFS=,; echo "${words[*]}")
    echo "${joined//,/, }"
  fi
}
errors_sum() { echo $((r[connect] + r[read] + r[write] + r[timeout] + r[non2xx])); }
rate_of() { awk -v n="${r[requests]}" -v us="${r[duration_us]}" 'BEGIN { printf "%.2f", n / (us / 1e6) }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.0f", us / 1000 }'; }

# 1. Start-up: launch to the first 200 from /readyz.
port=$(free_port) || fail "no free port found"
now_us
start=$now
"$bin" serve --host 127.0.0.1 --port "$port" --threads "$server_threads" --max-queue "$max_queue" \
  2> "$logs/server.log" &
pid=$!
until request "$logs/readyz" GET /readyz; do
  kill -0 "$pid" 2> /dev/null || fail "the server exited during start-up"
  now_us
  ((now - start < 30000000)) || fail "not ready within 30 s"
  sleep 0.005
done
now_us
startup_ms=$(((now - start) / 1000))
readyz=$(sed -n '/^\r$/,$p' "$logs/readyz" | tr -d '\r\n')
logged_ms=$(sed -n 's/.*ready in \([0-9]*\) ms.*/\1/p' "$logs/server.log")
say "ready after $startup_ms ms (server log: ready in ${logged_ms:-?} ms): $readyz"

# Two detections at once, both answered: the request threads are then idle,
# also after a wrk run that left requests in flight (the server finishes
# them first). Memory is read at such moments.
two_requests() {
  local first
  request "$logs/pair-1" POST /api/detect "$photo" &
  first=$!
  request "$logs/pair-2" POST /api/detect "$photo" || fail "no 200: $(head -1 "$logs/pair-2")"
  wait "$first" || fail "no 200: $(head -1 "$logs/pair-1")"
  served=$((served + 2))
}

# 2. Warm-up, two requests at a time.
for ((i = 0; i < warmup; i += 2)); do two_requests; done
warm_requests=$served
rss_warm=$(memory VmRSS)
hwm_warm=$(memory VmHWM)
say "after $served requests: VmRSS $rss_warm MiB, VmHWM $hwm_warm MiB"

# 3. Closed loop at each concurrency.
rows=()
rate=
for c in $concurrency; do
  run_wrk "c$c" "$c" "$duration"
  rate=$(rate_of)
  rows+=("| $c | ${r[requests]} | $rate | $(ms "${r[p50_us]}") | $(ms "${r[p95_us]}") | $(ms "${r[p99_us]}") | $(ms "${r[max_us]}") | $(errors_of) | $cpu_share |")
  say "c = $c: ${r[requests]} requests, $rate images/s, errors: $(errors_of), CPU server / others: $cpu_share"
done

# 4. Up to TOTAL replies, in runs of at most 10 minutes, each sized from the
# last rate to end short of TOTAL (then two_requests, counted too).
fill_errors=0
fill_runs=0
while ((served + 2 < total_target)); do
  left=$((total_target - 2 - served))
  secs=$(awk -v n="$left" -v rate="${rate:-1}" 'BEGIN { s = int(0.9 * n / (rate > 0 ? rate : 1)) + 1; print (s < 5 ? 5 : (s > 600 ? 600 : s)) }')
  fill_runs=$((fill_runs + 1))
  run_wrk "fill$fill_runs" 2 "${secs}s"
  ((r[requests] > 0)) && rate=$(rate_of)
  fill_errors=$((fill_errors + $(errors_sum)))
  say "$served requests answered so far: VmRSS $(memory VmRSS) MiB; CPU server / others: $cpu_share"
done
wait_idle
two_requests
rss_end=$(memory VmRSS)
hwm_end=$(memory VmHWM)
growth=$(awk -v a="$rss_warm" -v b="$rss_end" 'BEGIN { printf "%+.1f", b - a }')

# 5. SIGTERM: the server must finish what it is doing and exit 0.
now_us
stop_start=$now
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
now_us
stop_ms=$(((now - stop_start) / 1000))
pid=
((status == 0)) || fail "the server exited with status $status after SIGTERM"

cat << EOF

face-service serve: $bin, $readyz
photo: $photo ($(stat -c %s "$photo") bytes); wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}'); DURATION $duration per concurrency; logs in $logs

| concurrency | requests | images/s | p50 ms | p95 ms | p99 ms | max ms | errors | CPU: server / others |
|---|---|---|---|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

| | |
|---|---|
| start-up, launch to the first 200 from /readyz | $startup_ms ms (server log: ready in ${logged_ms:-?} ms) |
| RSS after warm-up ($warm_requests requests) | $rss_warm MiB (VmHWM $hwm_warm MiB) |
| RSS after $served requests | $rss_end MiB (VmHWM $hwm_end MiB) |
| RSS growth | $growth MiB |
| errors in the runs up to $total_target requests | $fill_errors |
| SIGTERM | exit status $status after $stop_ms ms |
EOF
