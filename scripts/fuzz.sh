#!/usr/bin/env bash
# Runs one libFuzzer target of Origo's parsers for a given time (address sanitizer on).
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer options...]
#   scripts/fuzz.sh list
#
# Targets (Fuzz/Package.swift): FuzzMP4 (ISO-BMFF reader + segmentation + TS muxing), FuzzServerManifest
# (.ism SMIL/XML), FuzzPlayerURL (virtual path + query), FuzzSubtitles (WebVTT/SRT/TTML, wvtt, cue tracks),
# FuzzUpstreamAnswer (upstream answers: Content-Range, Content-Length, the checks), FuzzCPIX (CPIX key
# documents), FuzzLiveIngest (live ingest bodies into a store), FuzzIndexStore (index store files). The corpus grows in
# out/fuzz/corpus/TARGET, seeded from the test fixtures; crashes land in out/fuzz/artifacts/TARGET/
# (keep each as a regression test, see docs/FUZZING.md). One job, one core: the machine is shared.
# Environment: FUZZ_SCRATCH=DIR (SwiftPM scratch path, default .build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
targets=(FuzzMP4 FuzzServerManifest FuzzPlayerURL FuzzSubtitles FuzzUpstreamAnswer FuzzCPIX FuzzLiveIngest FuzzIndexStore)

if [[ "${1:-}" == list ]]; then printf '%s\n' "${targets[@]}"; exit 0; fi
[[ $# -ge 2 ]] || { sed -n '4,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
target=$1 seconds=$2
shift 2
[[ " ${targets[*]} " == *" $target "* ]] || { echo "fuzz.sh: unknown target $target (try: list)" >&2; exit 2; }
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a number" >&2; exit 2; }
command -v swift >/dev/null || PATH="/opt/swift/usr/bin:$PATH"

scratch=${FUZZ_SCRATCH:-$repo/.build-fuzz}
(cd Fuzz && swift build --scratch-path "$scratch" --product "$target" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -use-ld=lld)
binary="$scratch/debug/$target"

corpus="$repo/out/fuzz/corpus/$target"
artifacts="$repo/out/fuzz/artifacts/$target"
mkdir -p "$corpus" "$artifacts"
seed() { [[ -f "$1" ]] && cp -n "$1" "$corpus/seed-$(basename "$1")" || true; }
case "$target" in
  FuzzMP4)
    for f in Tests/OrigoTests/Fixtures/*.mp4 Tests/OrigoTests/Fixtures/malformed/*; do seed "$f"; done
    # Encrypted fragmented MP4s (senc, pssh, encv/enca with sinf): DASH CENC output of the fixtures.
    for f in Tests/OrigoTests/Fixtures/encrypted/*.mp4; do seed "$f"; done ;;
  FuzzLiveIngest)
    # A chunking selector byte, then what encoders send (Fixtures/live/README.md).
    for f in Tests/OrigoTests/Fixtures/live/*.isml Tests/OrigoTests/Fixtures/live/*.cmfv; do
        for k in 0 3 6; do [[ -f "$corpus/seed-$k-$(basename "$f")" ]] || { printf "\\$k"; cat "$f"; } >"$corpus/seed-$k-$(basename "$f")"; done
    done ;;
  FuzzServerManifest)
    for f in vhost-examples/*.ism Tests/OrigoTests/Fixtures/*.ism; do seed "$f"; done
    printf '%s' '<?xml version="1.0"?><smil xmlns="http://www.w3.org/2001/SMIL20/Language"><head><meta name="hls_fmp4" content="true"/></head><body><switch><video src="a.mp4" systemBitrate="300000"><param name="trackID" value="1" valueType="data"/></video><audio src="b.mp4" systemLanguage="eng"/></switch></body></smil>' >"$corpus/seed-smil.ism" ;;
  FuzzPlayerURL)
    for u in ".m3u8" "x-video=600000.m3u8" "x-audio_eng=128000-video=600000-12.ts" "x-video=600000.m4s" \
             "x-video=600000-3.m4s" "x-video=600000-n7.dash" "x-audio_fra=96000-96256.dash" ".mpd?mpd.segment_template=number" \
             ".m3u8?hls.minimum_fragment_length=48/25&hls.fmp4=true" "x-textstream_zh-Hans=1000.m3u8?a=%20b+c" \
             '.mpd?filter=(type%3D%3D"audio"%26%26systemBitrate<100000)||!(MaxHeight>%3D576)&max_bitrate=800000' \
             ".m3u8?vbegin=00:01:00.5&vend=90" "Manifest?t=npt:60,90" ".m3u8?t=60-90" ".m3u8?t=,90"; do
      printf '%s' "$u" >"$corpus/seed-$(printf '%s' "$u" | md5sum | cut -c1-12)"
    done ;;
  FuzzSubtitles)
    # The first byte selects the reader: 0 WebVTT, 1 SubRip, 2 TTML, 3 a wvtt sample.
    printf '\000WEBVTT\n\nNOTE x\n\n1\n00:00:01.000 --> 00:00:02.500 align:start line:10%%\n<b>Hello</b> &amp; bye\n\n00:01.000 --> 00:03.000\nTwo\nlines\n' >"$corpus/seed-vtt"
    printf '\001\357\273\2771\r\n00:00:01,000 --> 00:00:02,000\r\n<i>Bonjour</i>\r\n\r\n2\r\n00:00:03,500 --> 00:00:04,000\r\nSalut\r\n' >"$corpus/seed-srt"
    printf '\002<?xml version="1.0"?><tt xmlns="http://www.w3.org/ns/ttml" ttp:tickRate="10000000"><body><div><p begin="1s" end="2.5s">One<br/>two</p><p begin="00:00:03.000" dur="40f"><span>three</span></p><p begin="30000000t" end="40000000t">four</p></div></body></tt>' >"$corpus/seed-ttml"
    printf '\003\000\000\000\046vttc\000\000\000\016sttg\141\154\151\147\156\072\000\000\000\020payl\110\151\041\012\000\000\000\010vtte' >"$corpus/seed-wvtt" ;;
  FuzzCPIX)
    for f in Tests/OrigoTests/Fixtures/*.cpix.xml; do seed "$f"; done ;;
  FuzzIndexStore)
    # A flags byte (bit 0: make length and checksum right), then a store file of key "fixture".
    for f in Tests/OrigoTests/Fixtures/index-store/*.oix; do
        for k in 0 1; do [[ -f "$corpus/seed-$k-$(basename "$f")" ]] || { printf "\\$k"; cat "$f"; } >"$corpus/seed-$k-$(basename "$f")"; done
    done ;;
  FuzzUpstreamAnswer)
    # Byte 0: status (bits 0-1: 0 206, 1 200, 2 404), body ended (4), Content-Range (8) and
    # Content-Length (16) present; bytes 1-2 the body length, 3-10 the cut offset (little-endian);
    # then "<Content-Range>\n<Content-Length>".
    answer() { printf "$2" >"$corpus/seed-$1"; }
    answer 206 '\034\364\001\000\000\000\000\000\000\000\000bytes 0-499/1234\n500'
    answer 206-last '\014\001\000\000\000\000\000\000\000\000\000bytes 1233-1233/1234'
    answer 206-star '\014\364\001\000\000\000\000\000\000\000\000bytes 500-999/*'
    answer 206-big '\014\001\000\000\000\000\000\000\000\000\000bytes 9999999999999999998-9999999999999999998/9999999999999999999'
    answer 206-short '\014\005\000\000\000\000\000\000\000\000\000bytes 0-9/100'
    answer reversed '\014\005\000\000\000\000\000\000\000\000\000bytes 10-5/20'
    answer too-long '\014\002\000\000\000\000\000\000\000\000\000bytes 0-1/99999999999999999999'
    answer spaces '\014\012\000\000\000\000\000\000\000\000\000bytes 0 - 9 / 10'
    answer upper '\014\012\000\000\000\000\000\000\000\000\000Bytes 0-9/10'
    answer unsatisfied '\014\000\000\000\000\000\000\000\000\000\000bytes */1234'
    answer 200 '\025\350\003\000\000\000\000\000\000\000\000\n1000'
    answer 200-cut '\021\364\001\350\003\000\000\000\000\000\000\n5000'
    answer 200-read-to-end '\025\364\001\350\003\000\000\000\000\000\000\n1500'
    answer 200-short '\025\012\000\000\000\000\000\000\000\000\000\n1000' ;;
esac

echo "fuzz.sh: $target for $seconds s (corpus $corpus)"
start=$(date +%s)
status=0
"$binary" "$corpus" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=262144 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" || status=$?
echo "fuzz.sh: $target ran $(( $(date +%s) - start )) s, exit $status, artifacts in $artifacts"
exit $status
