#!/bin/sh
# Smoke test for the origo CLI: builds it, creates and inspects a manifest from the test fixtures,
# and checks exit statuses (0 ok, 1 error, 2 usage). Usage: scripts/test-cli.sh [scratch-path]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=${1:-.build}
cd "$root"
swift build --scratch-path "$scratch" --product origo >/dev/null
origo="$root/$scratch/debug/origo"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/media" "$work/site/vod"
cp Tests/OrigoTests/Fixtures/progressive.mp4 Tests/OrigoTests/Fixtures/fragmented.mp4 "$work/media/"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_status() {
    want=$1; shift
    set +e; "$@" >/dev/null 2>"$work/err"; got=$?; set -e
    [ "$got" = "$want" ] || fail "$* exited $got, wanted $want: $(cat "$work/err")"
    if [ "$want" != 0 ]; then head -1 "$work/err" | grep -q '^origo: ' || fail "$*: no error line"; fi
}

cd "$work/site"
"$origo" create -o vod/movie.ism --hls.fmp4 --mpd.minimum_fragment_length=2 \
    ../media/progressive.mp4 --track_type=video ../media/fragmented.mp4 --track_type=audio --track_language=fr
grep -q '<video src="../../media/progressive.mp4" systemBitrate="54984">' vod/movie.ism || fail "video entry"
grep -q '<audio src="../../media/fragmented.mp4" systemBitrate="23683" systemLanguage="fra">' vod/movie.ism || fail "audio entry"
grep -q '<paramGroup id="hls">' vod/movie.ism || fail "hls paramGroup"
[ "$(grep -c '<param name="trackID"' vod/movie.ism)" = 2 ] || fail "trackID params"
"$origo" info vod/movie.ism | grep -q '^  audio_fra=23683  track 2  audio  mp4a.40.2' || fail "info on ism"
# Content keys go into the server manifest, and never out of the tool.
"$origo" create -o vod/keyed.ism --hls.key=:8275EF8E3B2A4B1C9D0E1F2A3B4C5D6E \
    --hls.license_server_url=https://keys.example/k ../media/progressive.mp4
grep -q '8275EF8E3B2A4B1C9D0E1F2A3B4C5D6E' vod/keyed.ism || fail "key written into the manifest"
"$origo" info vod/keyed.ism >"$work/keyed.txt"
grep -q '^  option hls.key=(a key: not shown)' "$work/keyed.txt" || fail "info names the key option"
! grep -qi '8275EF8E' "$work/keyed.txt" || fail "info printed a key"
"$origo" info ../media/progressive.mp4 | grep -q '^  track 1  video  avc1.640009  96x64 25 fps' || fail "info on mp4"

# Index MP4s (--use_dref_no_subs): sample tables plus a relative data reference, no media data.
"$origo" create -o vod/fragmented-index.mp4 --use_dref_no_subs ../media/fragmented.mp4
[ "$(wc -c <vod/fragmented-index.mp4)" -lt 4096 ] || fail "index MP4 too large"
grep -q '../../media/fragmented.mp4' vod/fragmented-index.mp4 || fail "index MP4 data reference"
"$origo" info vod/fragmented-index.mp4 | grep -q 'data in ../../media/fragmented.mp4' || fail "info on index MP4"
"$origo" create -o vod/index.ism vod/fragmented-index.mp4
grep -q '<video src="fragmented-index.mp4"' vod/index.ism || fail "ism over index MP4"
"$origo" info vod/index.ism | grep -q '^  audio_fra=23683  track 2  audio  mp4a.40.2' || fail "info on ism over index"
# An index of an index refers to the media, not to the first index.
"$origo" create -o again-index.mp4 --index vod/fragmented-index.mp4 --track_type=video
"$origo" info again-index.mp4 | grep -q 'data in ../media/fragmented.mp4' || fail "index of an index"
expect_status 2 "$origo" create -o x.mp4 ../media/progressive.mp4
expect_status 2 "$origo" create -o x-index.mp4 --use_dref_no_subs --hls.fmp4 ../media/progressive.mp4

expect_status 2 "$origo"
expect_status 2 "$origo" frob
expect_status 2 "$origo" create ../media/progressive.mp4
expect_status 2 "$origo" create -o x.ism --track_id=1 ../media/progressive.mp4
expect_status 2 "$origo" create -o x.ism ../media/progressive.mp4 --track_type=data
expect_status 1 "$origo" create -o x.ism ../media/progressive.mp4 --track_id=9
expect_status 1 "$origo" create -o x.ism missing.mp4
expect_status 1 "$origo" info vod/missing.ism
printf '<smil>\n<body>' > broken.ism
expect_status 1 "$origo" info broken.ism
[ ! -e x.ism ] && [ ! -e x.mp4 ] && [ ! -e x-index.mp4 ] || fail "output written despite errors"
echo "CLI smoke test passed"
