#!/usr/bin/env bash
# The product is one static binary: no ELF interpreter, no shared library;
# copied alone into an empty directory, with an empty environment (and as
# the unprivileged user "nobody" when the test runs as root), it starts,
# becomes ready, and serves the API from its embedded weights and page.
# Arguments: BINARY SHARED_DIR. Exit 77 (skipped) without curl.
set -u
bin=$1
shared=$2
fail() { echo "FAIL: $*"; exit 1; }
command -v curl >/dev/null || { echo "skipped: no curl"; exit 77; }

ldd_out=$(ldd "$bin" 2>&1)
case "$ldd_out" in
  *"not a dynamic executable"*|*"statically linked"*) echo "ok: ldd: $ldd_out" ;;
  *) fail "ldd lists dependencies: $ldd_out" ;;
esac
if command -v readelf >/dev/null; then
  readelf -l "$bin" | grep -q "INTERP" && fail "the binary asks for an ELF interpreter"
  readelf -d "$bin" 2>/dev/null | grep -q "NEEDED" && fail "the binary needs shared libraries"
  echo "ok: no PT_INTERP, no NEEDED entries"
fi

dir=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
cp "$bin" "$dir/face-service"
chmod 755 "$dir" "$dir/face-service"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
       echo $((20000 + RANDOM % 20000)))
run_as=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
(cd "$dir" && exec env -i "${run_as[@]}" ./face-service serve --host 127.0.0.1 --port "$port") > "$dir.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "the copied binary exited: $(cat "$dir.log")"
  sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] || fail "not ready in 10 s"
echo "ok: ready, alone in an empty directory${run_as:+, as uid 65534}"
[ "$(ls -A "$dir")" = "face-service" ] || fail "the server wrote files beside itself: $(ls -A "$dir")"

if [ -f "$shared/golden/ivan.jpg" ]; then
  out=$(curl -s --request POST "http://127.0.0.1:$port/api/detect?mode=faithful&confidence=0.99" \
        --header 'Content-Type: image/jpeg' --data-binary "@$shared/golden/ivan.jpg")
  echo "$out" | grep -q '^\[{"box":\[27[5-9],' || fail "unexpected detection: $out"
  echo "ok: detection from the embedded weights"
fi
page=$(curl -s "http://127.0.0.1:$port/")
case "$page" in *"<html"*) ;; *) fail "GET / did not serve the embedded page" ;; esac
echo "ok: the embedded page"

# `face-service healthcheck`, the HEALTHCHECK of a FROM scratch image (no
# curl there): alone, empty environment, unprivileged, like the server.
healthcheck() { (cd "$dir" && exec env -i "${run_as[@]}" ./face-service healthcheck --port "$check_port") 2> "$dir.err"; }
check_port=$port
healthcheck || fail "healthcheck against the running server: exit $?: $(cat "$dir.err")"
[ -s "$dir.err" ] && fail "healthcheck wrote to stderr when healthy: $(cat "$dir.err")"
(cd "$dir" && exec env -i FACE_SERVICE_PORT="$port" "${run_as[@]}" ./face-service healthcheck) ||
  fail "healthcheck with FACE_SERVICE_PORT: exit $?"
echo "ok: healthcheck exits 0 against the server"
check_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
             echo $((20000 + RANDOM % 20000)))
began=$(date +%s%N)
healthcheck
rc=$?
elapsed_ms=$((($(date +%s%N) - began) / 1000000))
[ "$rc" = 1 ] || fail "healthcheck against a closed port: exit $rc, expected 1"
[ "$elapsed_ms" -lt 1000 ] || fail "healthcheck against a closed port took $elapsed_ms ms"
[ "$(wc -l < "$dir.err")" = 1 ] || fail "not one line of reason: $(cat "$dir.err")"
echo "ok: healthcheck exits 1 against a closed port in $elapsed_ms ms: $(cat "$dir.err")"
[ "$(ls -A "$dir")" = "face-service" ] || fail "files beside the binary: $(ls -A "$dir")"
rm -f "$dir.err"
rm -f "$dir.log"
