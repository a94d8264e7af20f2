#!/usr/bin/env bash
# Many photos on every core, two ways each (issue 8's thread strategy):
# - over HTTP: one POST /api/detect/batch holding them all (the photos run
#   concurrently, one per thread of the server's pool) against one
#   POST /api/detect after another on one keep-alive connection (each photo
#   on every thread);
# - the command line: `detect DIR --out FILE` (photos in parallel, each on
#   one thread) against `detect PHOTO...` (one photo at a time on every
#   core).
# Both ways of a pair do the same detections; the wall times are what
# differs. Figures: bench/RESULTS.md.
#
#   bench/strategies.sh [FACE_SERVICE [PHOTOS [REPS]]]
#
# FACE_SERVICE defaults to build/release/face-service; PHOTOS (16, at most
# 64) WIDER FACE photos are the first in name order under
# ../shared/eval/widerface-dev/images, copied into a temporary folder
# (removed at the end, never into the repository); REPS (3) rounds, the two
# ways alternating within each. The server runs with --threads = cores.
# Exit 77 (skipped) without curl, bc or the photos.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/release/face-service}
photos=${2:-16}
reps=${3:-3}
images=../shared/eval/widerface-dev/images
for tool in curl bc; do command -v "$tool" >/dev/null || { echo "skipped: no $tool"; exit 77; }; done
[ -d "$images" ] || { echo "skipped: no $images"; exit 77; }

dir=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir "$dir/photos"
mapfile -t found < <(find "$images" -name '*.jpg' | sort)  # (no head: its early exit fails the pipe)
cp "${found[@]:0:$photos}" "$dir/photos/"
files=("$dir"/photos/*.jpg)

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" serve --host 127.0.0.1 --port "$port" --access-log off --max-batch 64 >/dev/null 2>&1 &
server=$!
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.1; done
url=http://127.0.0.1:$port

batch_form=()
one_by_one=()
for p in "${files[@]}"; do
  batch_form+=(-F "image=@$p")
  [ ${#one_by_one[@]} -gt 0 ] && one_by_one+=(--next)
  one_by_one+=(-sf -o /dev/null -H 'Content-Type: image/jpeg' --data-binary "@$p" "$url/api/detect")
done
now() { date +%s.%N; }
seconds() { printf '%.2f' "$(echo "$2 - $1" | bc)"; }

echo "${#files[@]} photos, $(nproc) cores, $reps rounds; commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
curl -sf -o /dev/null "${batch_form[@]}" "$url/api/detect/batch"  # warm-up
for r in $(seq "$reps"); do
  t0=$(now); curl -sf -o /dev/null "${batch_form[@]}" "$url/api/detect/batch"
  t1=$(now); curl "${one_by_one[@]}"
  t2=$(now)
  echo "http round $r: one batch $(seconds "$t0" "$t1") s, one request after another $(seconds "$t1" "$t2") s"
done
kill "$server"; wait "$server" 2>/dev/null || true
server=

for r in $(seq "$reps"); do
  rm -f "$dir/out.jsonl" "$dir/out.jsonl.params.json"
  t0=$(now); "$bin" detect "$dir/photos" --out "$dir/out.jsonl" 2>/dev/null || true
  t1=$(now); "$bin" detect "${files[@]}" >/dev/null || true
  t2=$(now)
  echo "cli round $r: detect DIR --out $(seconds "$t0" "$t1") s, detect PHOTO... $(seconds "$t1" "$t2") s"
done
