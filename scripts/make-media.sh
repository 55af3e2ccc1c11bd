#!/usr/bin/env bash
# Writes Origo's test media into OUTDIR: short synthetic clips (ffmpeg testsrc2 + sine), an ABR set
# with a hand-written server manifest, and media.json with every source's exact video frame count.
# Usage: scripts/make-media.sh OUTDIR
# Deterministic (bit-exact flags, fixed sources) and fast (well under a minute on 2 cores).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
out=$1
for tool in ffmpeg ffprobe; do
  command -v "$tool" >/dev/null || { echo "make-media: $tool not found (run scripts/install-deps.sh)" >&2; exit 1; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d "$out/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

dur=10          # seconds of every clip
fps=25          # frame rate of every clip but the NTSC one
gop=$((2 * fps))
ff=(ffmpeg -hide_banner -nostdin -loglevel error -y)
# Bit-exact output: no encoder version strings or creation times in the files.
exact=(-map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact)
x264=(-c:v libx264 -preset veryfast -profile:v high -pix_fmt yuv420p -bf 2
      -g "$gop" -keyint_min "$gop" -sc_threshold 0)
aac=(-c:a aac -b:a 128k -ac 2)

video_src() { # WxH RATE
  echo "testsrc2=size=$1:rate=$2:duration=$dur"
}
audio_src() { # FREQ RATE
  echo "sine=frequency=$1:sample_rate=$2:duration=$dur"
}

# Writes $1 atomically from the ffmpeg arguments that follow (the output file is the last one).
encode() {
  local name=$1
  shift
  "${ff[@]}" "$@" "${exact[@]}" "$tmp/$name"
  mv "$tmp/$name" "$out/$name"
}

# ABR set: three video-only renditions, two audio-only languages at different sample rates.
encode abr-416x234.mp4 -f lavfi -i "$(video_src 416x234 $fps)" "${x264[@]}" \
  -b:v 300k -an -movflags +faststart &
encode abr-640x360.mp4 -f lavfi -i "$(video_src 640x360 $fps)" "${x264[@]}" \
  -b:v 600k -an -movflags +faststart &
wait
encode abr-960x540.mp4 -f lavfi -i "$(video_src 960x540 $fps)" "${x264[@]}" \
  -b:v 1200k -an -movflags +faststart &
encode audio-eng.mp4 -f lavfi -i "$(audio_src 440 48000)" "${aac[@]}" -vn \
  -metadata:s:a:0 language=eng -movflags +faststart &
encode audio-fra.mp4 -f lavfi -i "$(audio_src 660 44100)" -c:a aac -b:a 96k -ac 2 -vn \
  -metadata:s:a:0 language=fra -movflags +faststart &
wait

# Single files with audio and video in one MP4, each exercising one layout or codec.
av() { # WxH RATE AFREQ ARATE
  echo -f lavfi -i "$(video_src "$1" "$2")" -f lavfi -i "$(audio_src "$3" "$4")"
}
# HEVC in an hvc1 sample entry (what Apple players require).
# shellcheck disable=SC2046
encode hevc.mp4 $(av 640x360 $fps 440 48000) -c:v libx265 -preset ultrafast -tag:v hvc1 -pix_fmt yuv420p \
  -x265-params "keyint=$gop:min-keyint=$gop:scenecut=0:bframes=2:log-level=error" -b:v 600k \
  "${aac[@]}" -movflags +faststart &
# Fragmented CMAF: moov without samples, one moof/mdat per GOP.
# shellcheck disable=SC2046
encode cmaf.mp4 $(av 640x360 $fps 440 48000) "${x264[@]}" -b:v 600k "${aac[@]}" \
  -movflags +frag_keyframe+empty_moov+default_base_moof+cmaf &
wait
# moov after mdat (ffmpeg's default layout) and moov before mdat.
# shellcheck disable=SC2046
encode moov-at-end.mp4 $(av 640x360 $fps 440 48000) "${x264[@]}" -b:v 600k "${aac[@]}" &
# shellcheck disable=SC2046
encode faststart.mp4 $(av 640x360 $fps 440 48000) "${x264[@]}" -b:v 600k "${aac[@]}" -movflags +faststart &
wait
# Dolby audio: AC-3 and E-AC-3 (5.1) next to H.264.
# shellcheck disable=SC2046
encode ac3.mp4 $(av 640x360 $fps 440 48000) "${x264[@]}" -b:v 600k -c:a ac3 -b:a 192k -ac 2 -movflags +faststart &
# shellcheck disable=SC2046
encode eac3.mp4 $(av 640x360 $fps 440 48000) "${x264[@]}" -b:v 600k -c:a eac3 -b:a 256k -ac 6 -movflags +faststart &
wait
# NTSC 29.97 fps (timescale 30000, frame duration 1001) with 48 kHz audio, GOP of 60 frames.
# shellcheck disable=SC2046
encode ntsc.mp4 $(av 640x360 30000/1001 440 48000) -c:v libx264 -preset veryfast -profile:v high \
  -pix_fmt yuv420p -bf 2 -g 60 -keyint_min 60 -sc_threshold 0 -b:v 600k -video_track_timescale 30000 \
  "${aac[@]}" -movflags +faststart

# The ABR server manifest, written by hand (SMIL 2.0 as the reference origin writes it), so the
# tests do not depend on the CLI. A second one asks for fMP4 HLS through its head options.
write_ism() { # FILE EXTRA_HEAD
  cat >"$tmp/ism" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<!-- Test presentation written by scripts/make-media.sh -->
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
    <meta name="creator" content="Origo make-media.sh" />
$2  </head>
  <body>
    <switch>
      <video src="abr-416x234.mp4" systemBitrate="300000">
        <param name="trackID" value="1" valueType="data" />
        <param name="trackName" value="video" valueType="data" />
      </video>
      <video src="abr-640x360.mp4" systemBitrate="600000">
        <param name="trackID" value="1" valueType="data" />
        <param name="trackName" value="video" valueType="data" />
      </video>
      <video src="abr-960x540.mp4" systemBitrate="1200000">
        <param name="trackID" value="1" valueType="data" />
        <param name="trackName" value="video" valueType="data" />
      </video>
      <audio src="audio-eng.mp4" systemBitrate="128000" systemLanguage="eng">
        <param name="trackID" value="1" valueType="data" />
        <param name="trackName" value="audio_eng" valueType="data" />
      </audio>
      <audio src="audio-fra.mp4" systemBitrate="96000" systemLanguage="fra">
        <param name="trackID" value="1" valueType="data" />
        <param name="trackName" value="audio_fra" valueType="data" />
      </audio>
    </switch>
  </body>
</smil>
EOF
  mv "$tmp/ism" "$out/$1"
}
write_ism abr.ism ""
write_ism abr-fmp4.ism '    <meta name="hls_fmp4" content="true" />
'

# Subtitles: sidecar WebVTT (eng) and SubRip (fra, CRLF, BOM) files with cues at known times (one
# spans the 4 s HLS segment boundary, one the 8 s one), the SubRip cues also muxed as TTML into an
# MP4 (`stpp`, deu), and server manifests naming all three next to one video and one audio track.
cat >"$out/subs-eng.vtt" <<'EOF'
WEBVTT

NOTE cue times are checked by Tests/integration/test_subtitles.py

intro
00:00:00.500 --> 00:00:02.000
Hello from Origo

00:00:03.000 --> 00:00:05.250 line:90% align:center
This cue spans a segment boundary

00:00:06.100 --> 00:00:07.900
Two lines &amp; <i>italics</i>
second line

00:00:07.500 --> 00:00:08.400
Overlapping cue

00:00:09.000 --> 00:00:09.800
The end
EOF
printf '\xef\xbb\xbf1\r\n00:00:01,000 --> 00:00:02,500\r\nBonjour\r\n\r\n2\r\n00:00:03,900 --> 00:00:04,600\r\n<i>Une limite</i>\r\n\r\n3\r\n00:00:07,250 --> 00:00:09,125\r\nFin et suite\r\n' \
  >"$out/subs-fra.srt"
"${ff[@]}" -i "$out/subs-fra.srt" -c:s ttml -metadata:s:s:0 language=deu -f mp4 "${exact[@]}" "$tmp/subs-stpp.mp4"
mv "$tmp/subs-stpp.mp4" "$out/subs-stpp.mp4"
write_subs_ism() { # FILE EXTRA_HEAD
  cat >"$tmp/ism" <<EOF
<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
$2  </head>
  <body>
    <switch>
      <video src="abr-640x360.mp4" systemBitrate="600000" />
      <audio src="audio-eng.mp4" systemBitrate="128000" systemLanguage="eng" />
      <textstream src="subs-eng.vtt" systemBitrate="1000" systemLanguage="eng" />
      <textstream src="subs-fra.srt" systemBitrate="1000" systemLanguage="fra" />
      <textstream src="subs-stpp.mp4" systemBitrate="1000" systemLanguage="deu" />
    </switch>
  </body>
</smil>
EOF
  mv "$tmp/ism" "$out/$1"
}
write_subs_ism subs.ism ""
write_subs_ism subs-fmp4.ism '    <meta name="hls_fmp4" content="true" />
'

# media.json: per file, the exact number of video frames (ffprobe -count_frames), the video
# geometry and rate, the audio sample rates, and the duration, for the tests to assert against.
probe() { # FILE -> one JSON object
  local f=$1 frames size rate rates duration
  frames=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$f" | tr -d ',\n')
  size=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=s=x:p=0 "$f" | tr -d '\n')
  rate=$(ffprobe -v error -select_streams v:0 -show_entries stream=r_frame_rate -of csv=p=0 "$f" | tr -d ',\n')
  rates=$(ffprobe -v error -select_streams a -show_entries stream=sample_rate -of csv=p=0 "$f" | tr -d ',' | sed '/^$/d' | paste -sd, -)
  duration=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$f" | tr -d '\n')
  printf '{"video_frames": %s, "size": "%s", "frame_rate": "%s", "audio_sample_rates": [%s], "duration": %s}' \
    "${frames:-0}" "$size" "$rate" "$rates" "$duration"
}
{
  echo "{"
  echo "  \"clip_seconds\": $dur,"
  echo "  \"files\": {"
  first=1
  for f in abr-416x234.mp4 abr-640x360.mp4 abr-960x540.mp4 audio-eng.mp4 audio-fra.mp4 \
           hevc.mp4 cmaf.mp4 moov-at-end.mp4 faststart.mp4 ntsc.mp4 ac3.mp4 eac3.mp4; do
    [ $first -eq 1 ] || echo ","
    first=0
    printf '    "%s": %s' "$f" "$(probe "$out/$f")"
  done
  echo
  echo "  }"
  echo "}"
} >"$tmp/media.json"
mv "$tmp/media.json" "$out/media.json"

# Apache runs as www-data: everything must be readable by others, directories searchable.
chmod a+rX "$out"
chmod a+r "$out"/*
echo "make-media: wrote $(ls "$out" | wc -l) files to $out"
