#!/usr/bin/env bash
# Builds the "fuzz" preset and runs each libFuzzer target in turn for
# SECONDS (default 30), on a fresh working corpus in a temporary directory:
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     # targets: fuzz_image fuzz_http fuzz_weights
#
# Seeds: tests/fuzz/corpus/TARGET (committed, only read), plus for
# fuzz_image the FUZZ_PHOTOS (default 8) smallest photos of ../shared/eval
# and each one scaled to 1/8 (small enough for the cascade to run on it),
# and for fuzz_weights the committed weights/pnet.bin and rnet.bin. Photos
# are read where they lie (FACE_SHARED_DIR, else ../shared), copied only into
# the temporary directory, and skipped when absent.
#
# Nothing is left behind: the temporary directory goes when the script ends,
# except the crash, leak and timeout inputs of a failing target, which are
# moved to a directory whose path is printed. The exit status is non-zero
# when any target failed. JOBS (default 2) bounds the build; everything runs
# under nice -n ${FUZZ_NICE:-10}.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_image fuzz_http fuzz_weights)
photos=${FUZZ_PHOTOS:-8}
shared=${FACE_SHARED_DIR:-$PWD/../shared}
nice=(nice -n "${FUZZ_NICE:-10}")

"${nice[@]}" cmake --preset fuzz >/dev/null
"${nice[@]}" cmake --build --preset fuzz -j "${JOBS:-2}"

work=$(mktemp -d "${TMPDIR:-/tmp}/face-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Extra seeds of a target, in $work/seeds/TARGET (may stay empty).
extra_seeds() {
  local target=$1 dir=$work/seeds/$1
  mkdir -p "$dir"
  case $target in
    fuzz_image)
      if [ -d "$shared/eval" ]; then
        local photo n=0
        while IFS= read -r photo; do
          n=$((n + 1))
          cp "$photo" "$dir/photo$n.jpg"
          if command -v djpeg >/dev/null && command -v cjpeg >/dev/null; then
            djpeg -scale 1/8 "$photo" | cjpeg -quality 90 >"$dir/photo$n-small.jpg" || rm -f "$dir/photo$n-small.jpg"
          fi
        done < <(find "$shared/eval" -name '*.jpg' -size -64k -printf '%s %p\n' | sort -n | head -n "$photos" | cut -d' ' -f2-)
        echo "  seeds: $n photos from $shared/eval"
      else
        echo "  seeds: no $shared/eval, committed seeds only"
      fi
      ;;
    fuzz_weights)
      # onet.bin (1.5 MB) is past libFuzzer's 1 MB input cap.
      cp weights/pnet.bin weights/rnet.bin "$dir/"
      ;;
  esac
}

failed=()
for target in "${targets[@]}"; do
  binary=build/fuzz/tests/fuzz/$target
  [ -x "$binary" ] || { echo "no such fuzz target: $target" >&2; exit 2; }
  echo "== $target: $seconds s"
  mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
  extra_seeds "$target"
  log=$work/$target.log
  status=0
  # The first corpus directory receives the new inputs; the others are only
  # read. -timeout: one input running 10 s is a hang.
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "${nice[@]}" "$binary" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$target/" \
    "$work/corpus/$target" "tests/fuzz/corpus/$target" "$work/seeds/$target" >"$log" 2>&1 || status=$?
  grep -E '^#[0-9]+[[:space:]]+DONE' "$log" || true
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|slowest_unit_time_sec|peak_rss_mb)' "$log" || true
  echo "  new inputs: $(find "$work/corpus/$target" -type f | wc -l)"
  if [ "$status" -ne 0 ]; then
    failed+=("$target")
    tail -n 60 "$log"
    echo "$target FAILED (exit $status)"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  keep=$(mktemp -d "${TMPDIR:-/tmp}/face-fuzz-crashes.XXXXXX")
  for target in "${failed[@]}"; do
    cp "$work/$target.log" "$keep/"
    if [ -n "$(ls -A "$work/artifacts/$target")" ]; then
      mkdir -p "$keep/$target"
      mv "$work/artifacts/$target"/* "$keep/$target/"
    fi
  done
  echo "failing targets: ${failed[*]}; their logs and inputs:"
  find "$keep" -type f | sort
  exit 1
fi
echo "fuzzing: every target ran clean"
