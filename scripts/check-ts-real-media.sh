#!/bin/sh
# Muxes real H.264/HEVC + AAC/AC-3/E-AC-3 MP4s with TransportStreamWriter and checks the result with
# ffmpeg: no decode errors, and video frames bit-identical to decoding the MP4 itself.
# Needs ffmpeg/ffprobe (libx264, libx265) and python3. Usage: scripts/check-ts-real-media.sh [workdir]
set -eu
work=${1:-/tmp/origo-ts-check}
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$work"

ffmpeg -v error -y -f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i sine -t 4 \
    -c:v libx264 -pix_fmt yuv420p -g 25 -c:a aac "$work/avc-aac.mp4"
ffmpeg -v error -y -f lavfi -i testsrc=size=320x240:rate=30 -f lavfi -i sine -t 4 \
    -c:v libx265 -x265-params log-level=error -pix_fmt yuv420p -g 30 -tag:v hvc1 -c:a ac3 "$work/hevc-ac3.mp4"
ffmpeg -v error -y -f lavfi -i testsrc=size=320x240:rate=24 -f lavfi -i sine -t 4 \
    -c:v libx264 -pix_fmt yuv420p -g 48 -bf 3 -c:a eac3 "$work/avc-eac3.mp4"

# Describe each MP4 for the test: codec configuration and every packet's times, size and position.
describe() {
    python3 - "$1" <<'PY'
import re, subprocess, sys
src = sys.argv[1]
out = []
streams = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_data", src],
                         capture_output=True, text=True).stdout
for block in streams.split("[STREAM]")[1:]:
    kind = "V" if "codec_type=video" in block else "A"
    codec = re.search(r"codec_name=(\w+)", block).group(1)
    timebase = re.search(r"time_base=1/(\d+)", block).group(1)
    m = re.search(r"extradata=\n(.*?)\n\n", block, re.S)
    data = "".join("".join(l.split(":")[1].strip().split("  ")[0].split())
                   for l in m.group(1).splitlines()) if m else ""
    out.append(f"{kind} {timebase} {codec} {data or '-'}")
packets = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "packet=stream_index,pts,dts,size,pos,flags", "-of", "csv=p=0", src],
                         capture_output=True, text=True).stdout
for line in packets.splitlines():
    f = line.split(",")
    if len(f) >= 6:
        out.append("P " + " ".join(f[:6]))
print("\n".join(out))
PY
}

status=0
for name in avc-aac hevc-ac3 avc-eac3; do
    describe "$work/$name.mp4" > "$work/$name.samples"
    if ! (cd "$repo" && ORIGO_TS_SAMPLES="$work/$name.samples" \
        swift test --scratch-path .build-ts-check --filter MPEGTSRealMediaTests) > "$work/$name.test.log" 2>&1; then
        echo "FAIL $name: swift test failed, see $work/$name.test.log"
        status=1
        continue
    fi
    errors=$(ffmpeg -v warning -i "$work/$name-all.ts" -f null - 2>&1 || true)
    ffmpeg -v error -i "$work/$name.mp4" -map 0:v -f framemd5 - | grep -v '^#' | cut -d, -f6 > "$work/$name.mp4.md5"
    ffmpeg -v error -i "$work/$name-all.ts" -map 0:v -f framemd5 - | grep -v '^#' | cut -d, -f6 > "$work/$name.ts.md5"
    if [ -z "$errors" ] && cmp -s "$work/$name.mp4.md5" "$work/$name.ts.md5"; then
        echo "ok   $name ($(wc -l < "$work/$name.ts.md5") frames identical)"
    else
        echo "FAIL $name: $errors"
        status=1
    fi
done
exit $status
