#!/usr/bin/env bash
# `face-service serve` over real sockets, with curl: the predecessor's API and
# examples, every error status with a JSON {"detail": ...}, the body and pixel
# limits, the health endpoints, request ids and the JSON access log, /metrics
# counters moving, and SIGTERM: a clean exit, a request in flight still
# answered, new connections refused, and the grace period cutting a slow
# upload. Then API keys (401s, both headers, open and closed probes, keys
# never logged), CORS (preflight, listed, other and any origin) and the
# request time limit (503, counted).
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
# Readiness is asked with the curl arguments in ready_args (a key).
ready_args=()
start() {
  port=$(free_port)
  "$bin" serve --host 127.0.0.1 --port "$port" --threads 2 "$@" 2> "$tmp/server-$port.log" &
  pid=$!
  pids+=("$pid")
  base="http://127.0.0.1:$port"
  local deadline=$((SECONDS + 20))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "${ready_args[@]}" "$base/readyz")" = 200 ]; do
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

# metrics FILE: GET /metrics into FILE, checking its Content-Type.
metrics() {
  local type
  type=$(curl -sS -o "$1" -w '%{content_type}' "$base/metrics") || fail "GET /metrics failed"
  [ "$type" = "text/plain; version=0.0.4; charset=utf-8" ] || fail "/metrics Content-Type: $type"
}
# metric FILE 'name{labels}': the sample's value, 0 when absent (the strict
# format checks are tests/server/metrics_test.cpp's).
metric() {
  python3 - "$1" "$2" << 'PY'
import sys
series = {}
for line in open(sys.argv[1]):
    if not line.startswith("#"):
        name, value = line.rstrip("\n").rsplit(" ", 1)
        series[name] = float(value)
print(int(series.get(sys.argv[2], 0)))
PY
}

# slow_upload PORT PHOTO FIRST_BYTES PAUSE_S SIGNAL_FILE: POSTs PHOTO to
# /api/detect on PORT: FIRST_BYTES of it, then touches SIGNAL_FILE, then the
# rest after PAUSE_S seconds; prints the status ("closed" when none came).
slow_upload() {
  python3 - "$@" << 'PY'
import socket, sys, time
port, photo, first, pause, signal_file = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
body = open(photo, "rb").read()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /api/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(body))
s.sendall(body[:first])
open(signal_file, "w").close()
time.sleep(pause)
try:
    s.sendall(body[first:])
    reply = s.recv(65536)
except OSError:
    reply = b""
print(reply.split(b" ")[1].decode() if reply.startswith(b"HTTP/1.1 ") else "closed")
PY
}

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

# Request ids: kept when valid, else a fresh 32-hex one; on errors too.
curl -sS -D "$tmp/headers" -o "$tmp/body" -H 'X-Request-ID: http-test-1' -H 'Content-Type: image/jpeg' \
  --data-binary "@$golden/ivan.jpg" "$base/api/detect?confidence=0.99&mode=faithful"
grep -q $'^X-Request-ID: http-test-1\r$' "$tmp/headers" || fail "X-Request-ID not echoed: $(cat "$tmp/headers")"
curl -sS -D "$tmp/headers" -o /dev/null -H 'X-Request-ID: not valid!' "$base/nope?secret=hunter2"
grep -Eq $'^X-Request-ID: [0-9a-f]{32}\r$' "$tmp/headers" || fail "invalid X-Request-ID not replaced: $(cat "$tmp/headers")"

# The log: JSON lines only; one per request but the probes and /metrics;
# never a query string.
curl -sS -o /dev/null "$base/metrics"
log_check() {
  python3 - "$tmp/server-$port.log" "$(wc -c < "$golden/ivan.jpg")" << 'PY'
import json, re, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
for l in lines:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", l["time"]), l
    assert l["level"] in ("info", "warn", "error") and isinstance(l["msg"], str), l
requests = [l for l in lines if l["msg"] == "request"]
assert not [l for l in requests if l["route"] in ("/healthz", "/readyz", "/healthcheck", "/metrics")], "a probe was logged"
detect = [l for l in requests if l["request_id"] == "http-test-1"]
assert len(detect) == 1, detect
d = detect[0]
assert (d["method"], d["route"], d["path"], d["status"], d["faces"]) == ("POST", "/api/detect", "/api/detect", 200, 1), d
assert d["bytes_in"] > int(sys.argv[2]) and d["bytes_out"] > 0 and d["duration_ms"] > 0, d
assert d["remote"].startswith("127.0.0.1:"), d
other = [l for l in requests if l["path"] == "/nope" and l["route"] == "other" and re.fullmatch("[0-9a-f]{32}", l["request_id"])]
assert other and other[-1]["status"] == 404, other
text = open(sys.argv[1]).read()
assert "hunter2" not in text and "confidence=" not in text, "a query string was logged"
PY
}
for _ in $(seq 20); do log_check 2> /dev/null && break; sleep 0.1; done  # each line follows its response
log_check || fail "access log: $(tail -5 "$tmp/server-$port.log")"

# /metrics counters move with requests.
metrics "$tmp/m1"
for _ in 1 2; do call 200 -H 'Content-Type: image/jpeg' --data-binary "@$golden/ivan.jpg" "$base/api/detect"; done
call_error 404 "$base/nope/again"
call_error 415 -H 'Content-Type: text/plain' --data-binary 'hello' "$base/api/detect"
metrics "$tmp/m2"
moved() {
  local before after
  before=$(metric "$tmp/m1" "$1")
  after=$(metric "$tmp/m2" "$1")
  [ $((after - before)) = "$2" ] || fail "$1 moved from $before to $after, expected +$2"
}
moved 'face_service_http_requests_total{route="/api/detect",status="200"}' 2
moved 'face_service_http_requests_total{route="/api/detect",status="415"}' 1
moved 'face_service_http_requests_total{route="other",status="404"}' 1
moved 'face_service_http_requests_total{route="/metrics",status="200"}' 1
moved 'face_service_http_request_duration_seconds_count{route="/api/detect"}' 3
moved 'face_service_faces_per_photo_count' 2
moved 'face_service_detection_stage_seconds_count{stage="pnet"}' 2
moved 'face_service_photo_megapixels_count' 2
[ "$(metric "$tmp/m2" 'face_service_ready')" = 1 ] || fail "face_service_ready is not 1"
grep -q '^face_service_info{isa="[a-z0-9]*",mode="default",threads="2"} 1$' "$tmp/m2" || fail "no face_service_info"
grep -q 'nope' "$tmp/m2" && fail "a raw path became a label"

kill -0 "$pid" 2> /dev/null || fail "server died"
main_pid=$pid
main_port=$port

# Limits: a second server with a small body limit and a small pixel limit.
size=$(wc -c < "$golden/ivan.jpg")
start --max-body $((size + 100)) --max-pixels 100000 --access-log off
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
# --access-log off: the start-up line, no request lines.
grep -q '"msg":"serving http://127.0.0.1:'"$port"' with' "$tmp/server-$port.log" || fail "no start-up line with --access-log off"
grep -q '"msg":"request"' "$tmp/server-$port.log" && fail "request lines with --access-log off"

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
grep -q '"msg":"stopped: every request finished"' "$tmp/server-$main_port.log" || fail "no 'stopped' line"

# SIGTERM with an upload in flight: new connections are refused at once, the
# upload finishes and gets its 200, the exit status is 0.
start
rm -f "$tmp/sent"
slow_upload "$port" "$golden/ivan.jpg" 1000 1.5 "$tmp/sent" > "$tmp/slow-status" &
client=$!
for _ in $(seq 50); do [ -f "$tmp/sent" ] && break; sleep 0.1; done
sleep 0.2  # for a request thread to read the first part
kill -TERM "$pid"
refused=
for _ in $(seq 10); do
  curl -s -o /dev/null --max-time 1 "$base/healthz" || { refused=yes; break; }
  sleep 0.1
done
[ -n "$refused" ] || fail "new connections still accepted after SIGTERM"
kill -0 "$client" 2> /dev/null || fail "the upload ended before the check of refused connections"
wait "$client"
[ "$(cat "$tmp/slow-status")" = 200 ] || fail "the request in flight at SIGTERM got $(cat "$tmp/slow-status")"
wait "$pid"
rc=$?
[ "$rc" = 0 ] || fail "exit status $rc after draining"

# --grace-period 1 and an upload that would take 30 s: cut, exit 1, about a
# second after SIGTERM.
start --grace-period 1
rm -f "$tmp/sent"
slow_upload "$port" "$golden/ivan.jpg" 1000 30 "$tmp/sent" > /dev/null &
client=$!
pids+=("$client")
for _ in $(seq 50); do [ -f "$tmp/sent" ] && break; sleep 0.1; done
sleep 0.2
began=$(date +%s%N)
kill -TERM "$pid"
wait "$pid"
rc=$?
elapsed_ms=$((($(date +%s%N) - began) / 1000000))
[ "$rc" = 1 ] || fail "exit status $rc after the grace period, expected 1"
[ "$elapsed_ms" -lt 2500 ] || fail "exit $elapsed_ms ms after SIGTERM with a grace period of 1 s"
grep -q '"msg":"grace period of 1 s over: 1 requests cut"' "$tmp/server-$port.log" || fail "no line about the cut request"
kill "$client" 2> /dev/null

# headers CURL_ARGS...: the response's headers into $tmp/headers (CRLFs
# dropped), the body into $tmp/body; prints the status.
headers() {
  curl -sS -D "$tmp/headers.raw" -o "$tmp/body" -w '%{http_code}' "$@" || fail "curl $* failed"
  tr -d '\r' < "$tmp/headers.raw" > "$tmp/headers"
}
has_header() { grep -qi "^$1\$" "$tmp/headers" || fail "no '$1' for ${*:2}: $(cat "$tmp/headers")"; }
lacks_header() { grep -qi "^$1" "$tmp/headers" && fail "'$1' for ${*:2}: $(cat "$tmp/headers")"; return 0; }

# CORS is off by default: no Access-Control-* header, even for an Origin;
# OPTIONS is no route then.
start
[ "$(headers -H 'Origin: https://app.example.com' "$base/healthz")" = 200 ] || fail "/healthz with an Origin"
lacks_header 'Access-Control-' "CORS off"
lacks_header 'Vary' "CORS off"
[ "$(headers -X OPTIONS -H 'Origin: https://app.example.com' "$base/api/detect")" = 405 ] || fail "OPTIONS without CORS"

# API keys and listed CORS origins.
key1=test-key-1-0123456789
key2='test_key_2_!#$%&*+-.^~'
start --api-keys "$key1, $key2" --cors-origins 'https://app.example.com,http://localhost:3000'
grep -q '"api_keys":2' "$tmp/server-$port.log" || fail "the start-up line does not count the keys"
call_error 401 -H 'Content-Type: image/jpeg' --data-binary "@$golden/ivan.jpg" "$base/api/detect"
[ "$(headers -H 'Content-Type: image/jpeg' --data-binary "@$golden/ivan.jpg" "$base/api/detect")" = 401 ] || fail "no key: not 401"
has_header 'WWW-Authenticate: Bearer realm="face-service"' "no key"
[ "$(headers -H "X-API-Key: ${key1}x" -H 'Content-Type: image/jpeg' --data-binary "@$golden/ivan.jpg" "$base/api/detect")" = 401 ] ||
  fail "a wrong key: not 401"
has_header 'WWW-Authenticate: Bearer realm="face-service", error="invalid_token"' "a wrong key"
grep -q "$key1" "$tmp/body" && fail "the 401 quotes the key"
call_error 401 -H "Authorization: Basic $key1" -H 'Content-Type: image/jpeg' --data-binary "@$golden/ivan.jpg" "$base/api/detect"
call_error 401 "$base/nope"  # no route map for strangers
call 200 -H "Authorization: Bearer $key1" -H 'Content-Type: image/jpeg' --data-binary "@$golden/ivan.jpg" \
  "$base/api/detect?mode=faithful&confidence=0.99"
[ "$(cat "$tmp/body")" = "$("$bin" detect "$golden/ivan.jpg" --mode faithful --confidence 0.99)" ] || fail "with a key: HTTP and CLI differ"
call 200 -H "X-API-Key: $key2" -F "image=@$golden/ivan.jpg" "$base/api/detect"
[ "$(faces)" = 1 ] || fail "X-API-Key: expected one face: $(cat "$tmp/body")"
call_error 404 -H "X-API-Key: $key2" "$base/nope"
# A refused upload is answered before its body is read: within the upload's
# first second, with the connection closed.
slow_refused=$(python3 - "$port" << 'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
s.sendall(b"POST /api/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 10000000\r\n\r\n")
print(s.recv(65536).split(b"\r\n")[0].decode())
PY
)
[ "$slow_refused" = "HTTP/1.1 401 Unauthorized" ] || fail "an upload without a key: $slow_refused"
# Open without a key: the probes, /metrics, the page.
for path in /healthz /readyz /healthcheck /metrics / /app.js /app.css; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base$path")" = 200 ] || fail "GET $path without a key is not 200"
done
# A preflight needs no key: 204 with the CORS answers for a listed origin.
[ "$(headers -X OPTIONS -H 'Origin: https://app.example.com' -H 'Access-Control-Request-Method: POST' \
      -H 'Access-Control-Request-Headers: x-api-key,content-type' "$base/api/detect")" = 204 ] || fail "preflight: not 204"
has_header 'Access-Control-Allow-Origin: https://app.example.com' "preflight"
has_header 'Access-Control-Allow-Methods: POST' "preflight"
has_header 'Access-Control-Allow-Headers: Content-Type, Authorization, X-API-Key, X-Request-ID' "preflight"
has_header 'Access-Control-Max-Age: 600' "preflight"
has_header 'Vary: Origin' "preflight"
lacks_header 'Content-Length' "a 204"
[ -s "$tmp/body" ] && fail "a 204 with a body"
[ "$(headers -X OPTIONS -H 'Origin: http://localhost:3000' "$base/metrics")" = 204 ] || fail "preflight of /metrics"
has_header 'Access-Control-Allow-Methods: GET, HEAD' "preflight of /metrics"
# Another origin: no CORS header (the browser then blocks), on the preflight and the request.
[ "$(headers -X OPTIONS -H 'Origin: https://evil.example.com' -H 'Access-Control-Request-Method: POST' "$base/api/detect")" = 204 ] ||
  fail "preflight from another origin"
lacks_header 'Access-Control-' "another origin's preflight"
[ "$(headers -H 'Origin: https://evil.example.com' -H "X-API-Key: $key1" -F "image=@$golden/no-faces.jpg" "$base/api/detect")" = 200 ] ||
  fail "a request from another origin"
lacks_header 'Access-Control-' "another origin"
has_header 'Vary: Origin' "another origin"
# A listed origin's request, and its 401: the script may read both, and X-Request-ID.
[ "$(headers -H 'Origin: https://app.example.com' -H "X-API-Key: $key1" -F "image=@$golden/no-faces.jpg" "$base/api/detect")" = 200 ] ||
  fail "a request from a listed origin"
has_header 'Access-Control-Allow-Origin: https://app.example.com' "a listed origin"
has_header 'Access-Control-Expose-Headers: X-Request-ID, Retry-After, Content-Disposition, X-Face-Count' "a listed origin"
[ "$(headers -H 'Origin: https://app.example.com' -F "image=@$golden/no-faces.jpg" "$base/api/detect")" = 401 ] ||
  fail "a listed origin without a key"
has_header 'Access-Control-Allow-Origin: https://app.example.com' "a listed origin's 401"
# The keys are in no log line (requests with them, refused ones, start-up).
sleep 0.2
grep -qF "$key1" "$tmp/server-$port.log" && fail "key 1 is in the log"
grep -qF "$key2" "$tmp/server-$port.log" && fail "key 2 is in the log"
grep -q '"status":401' "$tmp/server-$port.log" || fail "the 401s are not in the access log"

# Probes closed too (auth_probes), and the healthcheck sends the key; any origin.
ready_args=(-H "X-API-Key: $key1")
start --api-keys "$key1" --auth-probes true --cors-origins '*'
ready_args=()
for path in /healthz /readyz /healthcheck /metrics; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$base$path")" = 401 ] || fail "GET $path without a key is not 401 with auth_probes"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $key1" "$base$path")" = 200 ] || fail "GET $path with a key"
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/")" = 200 ] || fail "the page is not open with auth_probes"
FACE_SERVICE_API_KEYS=$key1 FACE_SERVICE_AUTH_PROBES=true "$bin" healthcheck --port "$port" || fail "healthcheck with the key"
"$bin" healthcheck --port "$port" 2> "$tmp/hc" && fail "healthcheck without the key passed"
grep -q "answered 401" "$tmp/hc" || fail "healthcheck without the key: $(cat "$tmp/hc")"
[ "$(headers -H 'Origin: https://anywhere.example' -H "X-API-Key: $key1" "$base/healthz")" = 200 ] || fail "any origin"
has_header 'Access-Control-Allow-Origin: \*' "any origin"
lacks_header 'Vary' "any origin"

# The time limit: a detection past it is stopped and answered 503 at once.
start --request-timeout 0.001
headers -H 'Content-Type: image/jpeg' --data-binary "@$golden/ivan.jpg" "$base/api/detect?mode=accurate" > "$tmp/status"
[ "$(cat "$tmp/status")" = 503 ] || fail "past the time limit: $(cat "$tmp/status") $(cat "$tmp/body")"
has_header 'Retry-After: 1' "past the time limit"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "time limit of 0.001 s" in d["detail"]' "$tmp/body" ||
  fail "time limit detail: $(cat "$tmp/body")"
metrics "$tmp/m3"
[ "$(metric "$tmp/m3" face_service_detection_timeouts_total)" = 1 ] || fail "the timeout is not counted"
[ "$(metric "$tmp/m3" 'face_service_http_requests_total{route="/api/detect",status="503"}')" = 1 ] || fail "the 503 is not counted"
call 200 "$base/readyz"  # still ready
kill -TERM "$pid"
wait "$pid" || fail "the time-limited server did not exit 0"
echo "http_api: all checks passed"
