#!/usr/bin/env bash
# The command line on real photos: `face-service detect` prints the JSON list
# of faces, [] for a photo without one, and fails clearly on an unreadable
# photo. Arguments: BINARY SHARED_DIR. Exit 77 (skipped) without ../shared.
set -u
bin=$1
golden=$2/golden
[ -f "$golden/ivan.jpg" ] || { echo "skipped: no $golden"; exit 77; }
command -v python3 > /dev/null || { echo "skipped: no python3"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$bin" detect "$golden/ivan.jpg") || fail "detect exited $?"
echo "$out" | grep -q '^\[{"box":\[' || fail "not a JSON list of faces: $out"
[ "$(echo "$out" | grep -o '"box"' | wc -l)" = 1 ] || fail "expected one face at the default confidence: $out"
for key in confidence left_eye right_eye nose mouth_left mouth_right; do
  echo "$out" | grep -q "\"$key\"" || fail "missing $key: $out"
done

# The faithful mode: the predecessor's answers (../shared/golden).
low=$("$bin" detect "$golden/ivan.jpg" --mode faithful --confidence 0.7) || fail "detect --confidence 0.7 exited $?"
[ "$(echo "$low" | grep -o '"box"' | wc -l)" = 2 ] || fail "expected the face and the hand at 0.7: $low"
echo "$low" | grep -q '^\[{"box":\[277,93,49,62\],"confidence":0.999975,' || fail "not the predecessor's answer: $low"

# Every mode finds ivan's face.
for mode in faithful default accurate; do
  one=$("$bin" detect "$golden/ivan.jpg" --mode $mode) || fail "--mode $mode exited $?"
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert abs(d[0]["box"][0] - 277) <= 6 and abs(d[0]["box"][1] - 93) <= 8' \
    "$one" || fail "--mode $mode: not ivan's face first: $one"
done

none=$("$bin" detect "$golden/no-faces.jpg") || fail "no-faces exited $?"
[ "$none" = "[]" ] || fail "expected [] for no-faces.jpg, got: $none"

several=$("$bin" detect "$golden/ivan.jpg" "$golden/no-faces.jpg") || fail "two photos exited $?"
[ "$(echo "$several" | wc -l)" = 2 ] || fail "expected one line per photo: $several"
echo "$several" | head -1 | grep -q '^{"faces":\[' || fail "expected {\"faces\":..,\"photo\":..}: $several"

echo "not a photo" > "$tmp/text.jpg"
"$bin" detect "$tmp/text.jpg" 2> "$tmp/err" && fail "accepted a text file"
grep -q "text.jpg" "$tmp/err" || fail "error does not name the file: $(cat "$tmp/err")"
"$bin" detect "$tmp/missing.jpg" 2> "$tmp/err" && fail "accepted a missing file"
"$bin" detect "$golden/ivan.jpg" --confidence 1.5 2> "$tmp/err"; [ $? = 2 ] || fail "--confidence 1.5 not a usage error"
"$bin" detect "$golden/ivan.jpg" --confidence abc 2> "$tmp/err"; [ $? = 2 ] || fail "--confidence abc not a usage error"
"$bin" detect "$golden/ivan.jpg" --min-face 3 2> "$tmp/err"; [ $? = 2 ] || fail "--min-face 3 not a usage error"
"$bin" detect "$golden/ivan.jpg" --mode fast 2> "$tmp/err"; [ $? = 2 ] || fail "--mode fast not a usage error"
grep -q "the modes are faithful, default, accurate" "$tmp/err" || fail "--mode fast does not name the modes: $(cat "$tmp/err")"
"$bin" frobnicate 2> /dev/null; [ $? = 2 ] || fail "unknown command not a usage error"
