#!/usr/bin/env bash
# Writes the benchmark presentation into OUTDIR: a 2-hour ABR set (5 H.264 renditions from 360p to
# 1080p with 2-second GOPs, AAC in English and French) and long.ism naming it.
# A 60-second clip per rendition is encoded once and repeated with `-c copy`, so this takes minutes,
# not hours. Usage: bench/make-long-media.sh OUTDIR [SECONDS]   (default 7200)
set -euo pipefail
out=${1:?usage: make-long-media.sh OUTDIR [SECONDS]}
total=${2:-7200}
clip=60
loops=$(( (total + clip - 1) / clip - 1 ))
mkdir -p "$out"
tmp=$(mktemp -d "$out/.tmp.XXXX")
trap 'rm -rf "$tmp"' EXIT
ff=(nice ffmpeg -hide_banner -nostdin -loglevel error -y)
fps=25
gop=50

# name WxH video-bitrate
renditions=("v360 640x360 500k" "v540 960x540 1500k" "v720 1280x720 2500k" "v1080 1920x1080 5000k" "v480 854x480 1000k")
for r in "${renditions[@]}"; do
  read -r name size rate <<<"$r"
  [ -f "$out/$name.mp4" ] && continue
  "${ff[@]}" -f lavfi -i "testsrc2=size=$size:rate=$fps" -t $clip -c:v libx264 -preset ultrafast \
    -b:v "$rate" -maxrate "$rate" -bufsize "$rate" -g $gop -keyint_min $gop -sc_threshold 0 -bf 2 \
    -pix_fmt yuv420p -an "$tmp/$name-clip.mp4"
  "${ff[@]}" -stream_loop "$loops" -i "$tmp/$name-clip.mp4" -c copy -t "$total" -movflags +faststart "$tmp/$name.mp4"
  mv "$tmp/$name.mp4" "$out/$name.mp4"
done
for lang in eng:440 fra:660; do
  code=${lang%%:*} freq=${lang##*:}
  [ -f "$out/audio-$code.mp4" ] && continue
  "${ff[@]}" -f lavfi -i "sine=frequency=$freq:sample_rate=48000" -t $clip -c:a aac -b:a 128k -ac 2 "$tmp/a-$code.mp4"
  "${ff[@]}" -stream_loop "$loops" -i "$tmp/a-$code.mp4" -c copy -t "$total" -metadata:s:a:0 language=$code \
    -movflags +faststart "$tmp/audio-$code.mp4"
  mv "$tmp/audio-$code.mp4" "$out/audio-$code.mp4"
done
# Server manifests are written beside and renamed into place: a server reading one meanwhile (a
# benchmark already running) sees the old or the new file, never a half-written one.
cat >"$tmp/long.ism" <<'ISM'
<?xml version="1.0" encoding="utf-8"?>
<smil xmlns="http://www.w3.org/2001/SMIL20/Language">
  <head>
    <meta name="creator" content="Origo benchmark" />
  </head>
  <body>
    <switch>
      <video src="v360.mp4" systemBitrate="500000"><param name="trackName" value="video" valuetype="data" /></video>
      <video src="v480.mp4" systemBitrate="1000000"><param name="trackName" value="video" valuetype="data" /></video>
      <video src="v540.mp4" systemBitrate="1500000"><param name="trackName" value="video" valuetype="data" /></video>
      <video src="v720.mp4" systemBitrate="2500000"><param name="trackName" value="video" valuetype="data" /></video>
      <video src="v1080.mp4" systemBitrate="5000000"><param name="trackName" value="video" valuetype="data" /></video>
      <audio src="audio-eng.mp4" systemBitrate="128000" systemLanguage="eng"><param name="trackName" value="audio_eng" valuetype="data" /></audio>
      <audio src="audio-fra.mp4" systemBitrate="128000" systemLanguage="fra"><param name="trackName" value="audio_fra" valuetype="data" /></audio>
    </switch>
  </body>
</smil>
ISM
# The same presentation encrypted (bench/run.sh's encrypted rows): DASH CENC, HLS AES-128 and HLS
# fMP4 with Common Encryption cbcs.
key=8275EF8E3B2A4B1C9D0E1F2A3B4C5D6E kid=0123456789ABCDEF0123456789ABCDEF
sed "s|<meta name=\"creator\" content=\"Origo benchmark\" />|&\n    <meta name=\"cenc.key\" content=\"$kid:$key\" />\n    <meta name=\"hls.playout\" content=\"clear\" />|" \
  "$tmp/long.ism" >"$tmp/long-cenc.ism"
sed "s|<meta name=\"creator\" content=\"Origo benchmark\" />|&\n    <meta name=\"hls.key\" content=\":$key\" />\n    <meta name=\"hls.license_server_url\" content=\"/keys/long.key\" />|" \
  "$tmp/long.ism" >"$tmp/long-aes.ism"
sed "s|<meta name=\"creator\" content=\"Origo benchmark\" />|&\n    <meta name=\"hls.key\" content=\"$kid:$key\" />\n    <meta name=\"hls.license_server_url\" content=\"/keys/long.key\" />\n    <meta name=\"hls.fmp4\" content=\"true\" />|" \
  "$tmp/long.ism" >"$tmp/long-cbcs.ism"
for ism in long long-cenc long-aes long-cbcs; do
  chmod a+r "$tmp/$ism.ism"
  mv -f "$tmp/$ism.ism" "$out/$ism.ism"
done
chmod -R a+rX "$out"
echo "make-long-media: wrote $out (${total} s)"
