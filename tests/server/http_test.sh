#!/usr/bin/env bash
# `face-service serve` over real sockets, with curl: the predecessor's API and
# examples, every error status with a JSON {"detail": ...}, the body and pixel
# limits, the health endpoints, and a clean exit on SIGTERM.
# Arguments: BINARY SHARED_DIR. Exit 77 (skipped) without ../shared or curl.
set -u
bin=$1
golden=$2/golden
[ -f "$golden/ivan.jpg" ] || { echo "skipped: no $golden"; exit 77; }
command -v curl > /dev/null || { echo "skipped: no curl"; exit 77; }
command -v python3 > /dev/null || { echo "skipped: no python3"; exit 77; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2> /dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for log in "$tmp"/server-*.log; do [ -f "$log" ] && { echo "--- $log"; cat "$log"; }; done
  exit 1
}

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# start ARGS...: starts a server on a free port; sets $port, $pid, $base.
start() {
  port=$(free_port)
  "$bin" serve --host 127.0.0.1 --port "$port" --threads 2 "$@" 2> "$tmp/server-$port.log" &
  pid=$!
  pids+=("$pid")
  base="http://127.0.0.1:$port"
  local deadline=$((SECONDS + 20))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ]; do
    kill -0 "$pid" 2> /dev/null || fail "server on port $port exited during start-up"
    [ $SECONDS -lt $deadline ] || fail "server on port $port not ready within 20 s"
    sleep 0.1
  done
}

# call EXPECTED_STATUS CURL_ARGS...: the body lands in $tmp/body.
call() {
  local expect=$1
  shift
  local status
  status=$(curl -sS -o "$tmp/body" -w '%{http_code} %{content_type}' "$@") || fail "curl $* failed"
  [ "${status%% *}" = "$expect" ] || fail "expected $expect, got ${status%% *} for curl $*: $(head -c 300 "$tmp/body")"
  case "${status#* }" in application/json*) ;; *) fail "not JSON (${status#* }) for curl $*" ;; esac
}
# call_error STATUS CURL_ARGS...: also requires {"detail": "<string>"}.
call_error() {
  call "$@"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d["detail"], str) and d["detail"]' \
    "$tmp/body" 2> /dev/null || fail "no JSON detail for curl ${*:2}: $(head -c 300 "$tmp/body")"
}
faces() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d, list); print(len(d))' "$tmp/body"; }

start
grep -q "serving http://127.0.0.1:$port with 2 threads, ISA [a-z0-9]*, mode default, ready in [0-9]* ms" "$tmp/server-$port.log" ||
  fail "start-up line missing: $(cat "$tmp/server-$port.log")"

# Health and readiness.
call 200 "$base/healthz"
[ "$(cat "$tmp/body")" = '{"status":"alive"}' ] || fail "/healthz: $(cat "$tmp/body")"
call 200 "$base/healthcheck"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1])) == {"OK": True}' "$tmp/body" || fail "/healthcheck: $(cat "$tmp/body")"
call 200 "$base/readyz"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"] == "ready" and d["isa"] in ("scalar", "avx2", "avx512") and d["mode"] == "default" and d["modes"] == ["faithful", "default", "accurate"]' \
  "$tmp/body" || fail "/readyz: $(cat "$tmp/body")"

# The predecessor's README example, in the faithful mode: its answers, and
# exactly what the command line prints.
call 200 --request POST "localhost:$port/api/detect?confidence=0.99&mode=faithful" --header 'Content-Type: image/jpeg' \
  --data-binary "@$golden/ivan.jpg"
[ "$(faces)" = 1 ] || fail "expected one face at 0.99: $(cat "$tmp/body")"
[ "$(cat "$tmp/body")" = "$("$bin" detect "$golden/ivan.jpg" --mode faithful --confidence 0.99)" ] ||
  fail "HTTP and CLI differ: $(cat "$tmp/body")"
call 200 -H 'Content-Type: application/octet-stream' --data-binary "@$golden/ivan.jpg" "$base/api/detect?mode=faithful&confidence=0.7"
[ "$(faces)" = 2 ] || fail "expected the face and the hand at 0.7: $(cat "$tmp/body")"
call 200 -F "image=@$golden/ivan.jpg" "$base/api/detect?confidence=0.7&mode=faithful"
[ "$(faces)" = 2 ] || fail "multipart at 0.7: $(cat "$tmp/body")"

# The default mode, raw body and multipart: the face, as the command line
# finds it; the accurate mode finds it too.
call 200 -F "image=@$golden/ivan.jpg" "$base/api/detect"
[ "$(faces)" = 1 ] || fail "multipart: expected one face: $(cat "$tmp/body")"
[ "$(cat "$tmp/body")" = "$("$bin" detect "$golden/ivan.jpg")" ] || fail "multipart and CLI differ: $(cat "$tmp/body")"
call 200 -H 'Content-Type: image/jpeg' --data-binary "@$golden/ivan.jpg" "$base/api/detect?mode=default&confidence=0.5"
[ "$(cat "$tmp/body")" = "$("$bin" detect "$golden/ivan.jpg" --confidence 0.5)" ] || fail "HTTP and CLI differ at 0.5: $(cat "$tmp/body")"
call 200 -H 'Content-Type: image/jpeg' --data-binary "@$golden/ivan.jpg" "$base/api/detect?mode=accurate"
[ "$(cat "$tmp/body")" = "$("$bin" detect "$golden/ivan.jpg" --mode accurate)" ] || fail "accurate: HTTP and CLI differ: $(cat "$tmp/body")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert any(abs(f["box"][0] - 277) <= 6 and abs(f["box"][1] - 93) <= 8 for f in d)' \
  "$tmp/body" || fail "accurate: no face near ivan's: $(cat "$tmp/body")"

call 200 -H 'Content-Type: image/jpeg' --data-binary "@$golden/no-faces.jpg" "$base/api/detect"
[ "$(cat "$tmp/body")" = "[]" ] || fail "expected [] for no-faces.jpg: $(cat "$tmp/body")"

# Concurrent requests on the shared detector give the same answer.
clients=()
for i in 1 2 3 4 5 6; do
  curl -sS -H 'Content-Type: image/jpeg' --data-binary "@$golden/ivan.jpg" "$base/api/detect?confidence=0.7" \
    > "$tmp/concurrent-$i" &
  clients+=($!)
done
for c in "${clients[@]}"; do wait "$c" || fail "concurrent request failed"; done
for i in 2 3 4 5 6; do cmp -s "$tmp/concurrent-1" "$tmp/concurrent-$i" || fail "concurrent answers differ"; done

# Bad input: the right status, always with a JSON detail.
call_error 400 -X POST -H 'Content-Type: image/jpeg' --data-binary '' "$base/api/detect"
call_error 400 -X POST "$base/api/detect"
call_error 415 -H 'Content-Type: text/plain' --data-binary 'hello, not a photo' "$base/api/detect"
call_error 415 -H 'Content-Type: image/jpeg' --data-binary 'hello, not a photo' "$base/api/detect"
head -c 2000 "$golden/ivan.jpg" > "$tmp/truncated.jpg"
call_error 400 -H 'Content-Type: image/jpeg' --data-binary "@$tmp/truncated.jpg" "$base/api/detect"
call_error 400 -F "file=@$golden/ivan.jpg" "$base/api/detect"
for c in abc 1.5 -0.1 nan inf '' '0.5&confidence=0.5'; do
  call_error 422 -H 'Content-Type: image/jpeg' --data-binary "@$golden/ivan.jpg" "$base/api/detect?confidence=$c"
done
for m in '' Default 'faithful&mode=faithful' fast; do
  call_error 422 -H 'Content-Type: image/jpeg' --data-binary "@$golden/ivan.jpg" "$base/api/detect?mode=$m"
done
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "faithful, default, accurate" in d["detail"]' "$tmp/body" ||
  fail "the 422 for a mode does not name the modes: $(cat "$tmp/body")"
call_error 404 "$base/nope"
call_error 404 -X POST --data-binary x "$base/api/detect/"
call_error 405 "$base/api/detect"
curl -sS -D - -o /dev/null "$base/api/detect" | grep -qi '^Allow: POST' || fail "405 without Allow: POST"
call_error 405 -X POST --data-binary x "$base/healthz"
call_error 400 -H 'Content-Type: multipart/form-data; boundary=x' --data-binary 'garbage' "$base/api/detect"

# Keep-alive: several requests on one connection.
out=$(curl -sS "$base/healthz" "$base/healthcheck" "$base/healthz")
[ "$out" = '{"status":"alive"}{"OK":true}{"status":"alive"}' ] || fail "keep-alive: $out"

kill -0 "$pid" 2> /dev/null || fail "server died"
main_pid=$pid
main_port=$port

# Limits: a second server with a small body limit and a small pixel limit.
size=$(wc -c < "$golden/ivan.jpg")
start --max-body $((size + 100)) --max-pixels 100000
head -c $((size + 101)) /dev/zero > "$tmp/over.bin"   # one byte over, sent without Expect
head -c $((3 * 1024 * 1024)) /dev/zero > "$tmp/big.bin"  # curl sends Expect: 100-continue for this one
call_error 413 -H 'Content-Type: image/jpeg' --data-binary "@$tmp/over.bin" "$base/api/detect"
call_error 413 -H 'Content-Type: image/jpeg' --data-binary "@$tmp/big.bin" "$base/api/detect"
call_error 413 -H 'Transfer-Encoding: chunked' -H 'Content-Type: image/jpeg' --data-binary "@$tmp/big.bin" "$base/api/detect"
call_error 413 -F "image=@$tmp/big.bin" "$base/api/detect"
# Within the body limit, but 561 x 561 pixels (no-faces.jpg: 199 x 148): refused from the header.
call_error 413 -H 'Content-Type: image/jpeg' --data-binary "@$golden/ivan.jpg" "$base/api/detect"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "pixel" in d["detail"] or "large" in d["detail"]' "$tmp/body" ||
  fail "pixel limit detail: $(cat "$tmp/body")"
# A chunked body within the limit is read whole.
call 200 -H 'Transfer-Encoding: chunked' -H 'Content-Type: image/jpeg' --data-binary "@$golden/no-faces.jpg" "$base/api/detect"
[ "$(cat "$tmp/body")" = "[]" ] || fail "chunked no-faces.jpg: $(cat "$tmp/body")"
kill -0 "$pid" 2> /dev/null || fail "limits server died"

# Both still alive; SIGTERM stops each within 5 s with status 0.
for p in "$main_pid" "$pid"; do
  kill -0 "$p" 2> /dev/null || fail "server $p died"
  kill -TERM "$p"
  for _ in $(seq 50); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
  kill -0 "$p" 2> /dev/null && fail "server $p still running 5 s after SIGTERM"
  wait "$p"
  rc=$?
  [ "$rc" = 0 ] || fail "server $p exited $rc after SIGTERM"
done
curl -s -o /dev/null "http://127.0.0.1:$main_port/healthz" && fail "still answering after SIGTERM"
echo "http_api: all checks passed"
