#!/usr/bin/env bash
# Runs one libFuzzer target of the C parsers in mod_glue/ for a given time (address and undefined
# behaviour sanitizers on).
#
#   scripts/fuzz-c.sh TARGET SECONDS [libFuzzer options...]
#   scripts/fuzz-c.sh list
#
# Targets (Fuzz/C/fuzz_TARGET.c): url (allow-list origins, URL escaping, CDN-Loop counting),
# s3_sign (SigV4 signing in header and query mode). Binaries go to out/fuzz-c/; the corpus grows
# in out/fuzz-c/corpus/TARGET, seeded from Fuzz/C/corpus/TARGET; crashes land in
# out/fuzz-c/artifacts/TARGET/ (see docs/FUZZING.md).
# One job, one core: the machine is shared. Needs the Swift toolchain's clang (libFuzzer) and
# libssl-dev. Environment: FUZZ_CC=compiler (default /opt/swift/usr/bin/clang, else clang).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
targets=(url s3_sign)

if [[ "${1:-}" == list ]]; then printf '%s\n' "${targets[@]}"; exit 0; fi
[[ $# -ge 2 ]] || { sed -n '5,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
target=$1 seconds=$2
shift 2
[[ " ${targets[*]} " == *" $target "* ]] || { echo "fuzz-c.sh: unknown target $target (try: list)" >&2; exit 2; }
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz-c.sh: SECONDS must be a number" >&2; exit 2; }
cc=${FUZZ_CC:-/opt/swift/usr/bin/clang}
[[ -x "$cc" ]] || cc=clang

case "$target" in
  s3_sign) sources=(mod_glue/origo_s3.c) libs=(-lcrypto) ;;
  *)       sources=(mod_glue/origo_url.c) libs=() ;;
esac
out="$repo/out/fuzz-c"
binary="$out/fuzz_$target"
mkdir -p "$out"
"$cc" -std=c99 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Imod_glue \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fuse-ld=lld \
    -o "$binary" "Fuzz/C/fuzz_$target.c" "${sources[@]}" "${libs[@]}"

corpus="$out/corpus/$target"
artifacts="$out/artifacts/$target"
mkdir -p "$corpus" "$artifacts"
for f in "Fuzz/C/corpus/$target"/*; do [[ -f "$f" ]] && cp -n "$f" "$corpus/seed-$(basename "$f")" || true; done

echo "fuzz-c.sh: $target for $seconds s (corpus $corpus)"
start=$(date +%s)
status=0
"$binary" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=4096 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" || status=$?
echo "fuzz-c.sh: $target ran $(( $(date +%s) - start )) s, exit $status, artifacts in $artifacts"
exit $status
