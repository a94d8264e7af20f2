#!/usr/bin/env bash
# The command line on real photos: `face-service detect` prints the JSON list
# of faces, [] for a photo without one, and fails clearly on an unreadable
# photo. Arguments: BINARY SHARED_DIR. Exit 77 (skipped) without ../shared.
set -u
bin=$1
golden=$2/golden
[ -f "$golden/ivan.jpg" ] || { echo "skipped: no $golden"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

out=$("$bin" detect "$golden/ivan.jpg") || fail "detect exited $?"
echo "$out" | grep -q '^\[{"box":\[' || fail "not a JSON list of faces: $out"
[ "$(echo "$out" | grep -o '"box"' | wc -l)" = 1 ] || fail "expected one face at the default confidence: $out"
for key in confidence left_eye right_eye nose mouth_left mouth_right; do
  echo "$out" | grep -q "\"$key\"" || fail "missing $key: $out"
done

low=$("$bin" detect "$golden/ivan.jpg" --confidence 0.7) || fail "detect --confidence 0.7 exited $?"
[ "$(echo "$low" | grep -o '"box"' | wc -l)" = 2 ] || fail "expected the face and the hand at 0.7: $low"

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
"$bin" frobnicate 2> /dev/null; [ $? = 2 ] || fail "unknown command not a usage error"
