#!/usr/bin/env bash
# Optional peer rows for the benchmark: nginx-vod-module (Kaltura's open-source nginx packager, built
# by the user from its public source as a dynamic module; nothing of it is in this repository) on
# the same nginx, serving the same 2-hour presentation, measured with the same wrk runs as the
# Origo-on-nginx rows of bench/run.sh: DASH 720p segments (16 connections, 400 segments, every 9th
# over the 2 hours), the 720p HLS media playlist and the MPD (32 connections, saturated and paced).
#
#   bench/peer-vod.sh [PATH/ngx_http_vod_module.so] [MEDIA_DIR]
#
# MEDIA_DIR defaults to $ORIGO_BENCH_MEDIA or /tmp/origo-bench-media (bench/make-long-media.sh).
# Without a module (no argument, or no such file) it prints a "skipped" line and exits 0.
# Environment: ORIGO_PEER_PORT (the peer's nginx, default 8197), ORIGO_PEER_WITH_ORIGO=1 (also
# start Origo on nginx through scripts/origo-nginx on ORIGO_PEER_PORT + 1 and measure its rows in
# the same run, alternating peer and Origo every round), ORIGO_PEER_ROUNDS (default 3), ORIGO_PEER_VOD_SEGMENT_PREFIX (the peer's HLS segment name prefix, see below),
# ORIGO_BENCH_SEGMENT_SECONDS (default 10), ORIGO_BENCH_SECONDS (per manifest run, default 20),
# ORIGO_BENCH_PACED (waits in ms, default "8 4 2 1"; empty: no paced rows).
# Output: progress lines, then markdown table rows (medians over the rounds, min–max in brackets).
# How to build the module: bench/README.md, "nginx-vod-module as a peer".
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

module=${1:-}
media=${2:-${ORIGO_BENCH_MEDIA:-/tmp/origo-bench-media}}
if [[ -z $module ]]; then
  echo "peer-vod: skipped (no nginx-vod-module given: bench/peer-vod.sh PATH/ngx_http_vod_module.so)"
  exit 0
fi
if [[ ! -f $module ]]; then
  echo "peer-vod: skipped ($module not found)"
  exit 0
fi
module=$(cd "$(dirname "$module")" && pwd -P)/$(basename "$module")
die() { echo "peer-vod: error: $*" >&2; exit 1; }
[[ -f $media/v720.mp4 && -f $media/long.ism ]] || die "$media lacks v720.mp4 / long.ism: run bench/make-long-media.sh $media"
media=$(cd "$media" && pwd -P)
command -v wrk >/dev/null || die "wrk is missing (scripts/install-deps.sh --test)"
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $nginx ]] || die "nginx not found"

port=${ORIGO_PEER_PORT:-8197}
origo_port=$((port + 1))
with_origo=${ORIGO_PEER_WITH_ORIGO:-0}
rounds=${ORIGO_PEER_ROUNDS:-3}
segment_seconds=${ORIGO_BENCH_SEGMENT_SECONDS:-10}
seconds=${ORIGO_BENCH_SECONDS:-20}
paced_delays=${ORIGO_BENCH_PACED-8 4 2 1}
# The peer's HLS segment names start with "seg" (seg-1-v1.ts); Origo's follow the USP grammar
# (long-video=2500000-1.ts), which makes its 720p media playlist 41 % larger. With a prefix given
# here (e.g. "long-video=25000": long-video=25000-1-v1.ts, one byte longer than Origo's names)
# the two playlists have the same size, and the row compares the packagers, not the names.
vod_prefix=${ORIGO_PEER_VOD_SEGMENT_PREFIX:-}
vod_base=http://127.0.0.1:$port
origo_base=http://127.0.0.1:$origo_port

work=$(mktemp -d /tmp/origo-peer-vod.XXXX)
chmod 755 "$work"
cleanup() {
  local pid i
  if [[ -f $work/run/nginx.pid ]] && pid=$(cat "$work/run/nginx.pid") && [[ $pid =~ ^[0-9]+$ ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [[ $with_origo == 1 ]]; then
    scripts/origo-nginx stop --listen "127.0.0.1:$origo_port" >/dev/null 2>&1 || true
    rm -f "/tmp/origo-nginx/$origo_port/logs/access.log"  # gigabytes after a full run
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The peer's configuration follows the module's own performance recommendations: a metadata cache
# (the MP4 index is not read again per segment), a response cache for manifests, nginx's
# open_file_cache, file reads and opens on nginx's thread pool. Two workers like Origo's rows.
# DASH and HLS get one location each, to match Origo's segment durations (long.ism: DASH 2 s,
# HLS 4 s); segments start on key frames and manifests report the exact durations, as Origo's do;
# URLs in the manifests are relative, as Origo's are (the module's default is absolute ones).
mkdir -p "$work/conf" "$work/logs" "$work/run" "$work/temp"
{
  echo "load_module \"$module\";"
  echo "daemon on;"
  echo "master_process on;"
  echo "worker_processes 2;"
  echo "pid \"$work/run/nginx.pid\";"
  echo "error_log \"$work/logs/error.log\" warn;"
  [[ $(id -u) -ne 0 ]] || echo "user www-data www-data;"
  echo "thread_pool default threads=32 max_queue=65536;"
  echo "events { worker_connections 1024; }"
  echo "http {"
  echo "    default_type application/octet-stream;"
  # The same access log as scripts/origo-nginx writes for Origo's nginx.
  echo "    log_format peer '\$remote_addr - - [\$time_local] \"\$request\" \$status \$body_bytes_sent \$request_time';"
  echo "    access_log \"$work/logs/access.log\" peer;"
  for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path \"$work/temp/$t\";"; done
  echo "    sendfile on;"
  echo "    tcp_nopush on;"
  echo "    server_tokens off;"
  echo "    open_file_cache max=1000 inactive=5m;"
  echo "    open_file_cache_valid 2m;"
  echo "    open_file_cache_min_uses 1;"
  echo "    open_file_cache_errors on;"
  echo "    aio threads;"
  echo "    vod_mode local;"
  echo "    vod_metadata_cache metadata_cache 1024m;"
  echo "    vod_response_cache response_cache 128m;"
  echo "    vod_open_file_thread_pool default;"
  echo "    vod_last_modified_types *;"
  echo "    vod_align_segments_to_key_frames on;"
  echo "    vod_manifest_segment_durations_mode accurate;"
  echo "    vod_hls_absolute_index_urls off;"
  echo "    vod_dash_absolute_manifest_urls off;"
  echo "    server {"
  echo "        listen 127.0.0.1:$port;"
  echo "        location /dash/ { alias \"$media/\"; vod dash; vod_segment_duration 2000; }"
  echo "        location /hls/ { alias \"$media/\"; vod hls; vod_segment_duration 4000;${vod_prefix:+ vod_hls_segment_file_name_prefix \"$vod_prefix\";} }"
  echo "    }"
  echo "}"
} >"$work/conf/nginx.conf"
"$nginx" -t -q -p "$work" -e "$work/logs/error.log" -c "$work/conf/nginx.conf" 2>&1 \
  || die "nginx -t failed for the peer ($work/conf/nginx.conf)"
"$nginx" -p "$work" -e "$work/logs/error.log" -c "$work/conf/nginx.conf" || die "the peer's nginx did not start"
for ((i = 0; i < 100; i++)); do curl -s -o /dev/null --max-time 1 "$vod_base/" && break; sleep 0.1; done
echo "==> nginx-vod-module on $vod_base ($module)"
if [[ $with_origo == 1 ]]; then
  scripts/origo-nginx start --root "$media" --listen "127.0.0.1:$origo_port" --workers 2 >/dev/null
  echo "==> Origo on nginx on $origo_base (scripts/origo-nginx, $repo/out/modules)"
  servers="vod origo"
else
  servers="vod"
fi

# The same rows as bench/run.sh's nginx rows. Origo's DASH URLs use $Number$ from 1; the peer's
# fragment numbers also start at 1 and cover the same 2 s (both cut at the 2 s key frames).
all_files="v360,v480,v540,v720,v1080,audio-eng,audio-fra"
declare -A url
url[vod dash720]="/dash/v720.mp4/fragment-%d-v1.m4s"
url[origo dash720]="/long.ism/long-video=2500000-n%d.dash"
url[vod media]="/hls/v720.mp4/index.m3u8"
url[origo media]="/long.ism/long-video=2500000.m3u8"
url[vod mpd]="/dash/,${all_files},.mp4.urlset/manifest.mpd"
url[origo mpd]="/long.ism/.mpd"
base_of() { [[ $1 == vod ]] && echo "$vod_base" || echo "$origo_base"; }
label() { [[ $1 == vod ]] && echo "nginx-vod-module" || echo "Origo (nginx)"; }

# Path lists, and every response fetched once (checks the 200s, warms the caches, gives the sizes).
declare -A size
for s in $servers; do
  b=$(base_of "$s")
  : >"$work/$s.dash720"
  total=0
  for ((k = 1; k <= 3600; k += 9)); do
    # shellcheck disable=SC2059
    p=$(printf "${url[$s dash720]}" "$k")
    echo "$p" >>"$work/$s.dash720"
    n=$(curl -sf -o "$work/$s-seg" -w '%{size_download}' "$b$p") || die "$(label "$s"): GET $p failed"
    total=$((total + n))
  done
  size[$s dash720]=$((total / 400))
  curl -sf -o "$work/$s-seg1" "$b$(head -1 "$work/$s.dash720")" || die "$(label "$s"): first segment failed"
  for name in media mpd; do
    echo "${url[$s $name]}" >"$work/$s.$name"
    curl -sf -o "$work/$s-$name.body" "$b${url[$s $name]}" || die "$(label "$s"): GET ${url[$s $name]} failed"
    size[$s $name]=$(stat -c %s "$work/$s-$name.body")
  done
done

ms() { # wrk duration (e.g. 1.23ms, 850.00us, 1.02s) -> milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
failed=0
run_wrk() { # base pathsfile connections seconds [delay ms] -> "req/s p50 p99 non-2xx"
  local out rps p50 p99 bad
  ORIGO_PATHS=$2 wrk -t2 -c"$3" -d2s -s bench/rotate.lua "$1" >/dev/null 2>&1
  out=$(ORIGO_DELAY_MS=${5:-} ORIGO_PATHS=$2 wrk -t2 -c"$3" -d"$4s" --latency -s bench/rotate.lua "$1" 2>&1)
  bad=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  echo "$rps $(ms "$p50") $(ms "$p99") ${bad:-0}"
}
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s–%s", lo, hi }'; }
stat_of() { # file column -> "median (min–max)"
  echo "$(cut -d' ' -f"$2" "$1" | median) ($(cut -d' ' -f"$2" "$1" | spread))"
}

rows=""
measure() { # row-name list connections seconds [delay]: every server, `rounds` rounds, order alternating
  local row=$1 list=$2 conns=$3 secs=$4 delay=${5:-} r s order out bad note
  for s in $servers; do : >"$work/res.$s"; done
  for ((r = 1; r <= rounds; r++)); do
    order=$servers
    ((r % 2)) || order=$(echo "$servers" | awk '{ for (i = NF; i > 0; i--) printf "%s%s", $i, (i > 1 ? " " : "") }')
    for s in $order; do
      out=$(run_wrk "$(base_of "$s")" "$work/$s.$list" "$conns" "$secs" "$delay")
      echo "$out" >>"$work/res.$s"
      echo "  $row round $r $(label "$s"): $out (req/s, p50 and p99 ms, non-2xx)"
    done
  done
  for s in $servers; do
    # A round with errors still counts in the medians but marks the row, and the exit status.
    bad=$(awk '{ n += $4 } END { print n + 0 }' "$work/res.$s")
    note=""
    if ((bad > 0)); then failed=1; note=" **$bad non-2xx answers**"; fi
    rows+="| $row | $(label "$s") | $(sizefmt "${size[$s $list]}") | $(stat_of "$work/res.$s" 1)$note | $(stat_of "$work/res.$s" 2) | $(stat_of "$work/res.$s" 3) |"$'\n'
  done
}
sizefmt() { awk -v b="$1" 'BEGIN { if (b >= 10240) printf "%.1f KiB", b / 1024; else printf "%d B", b }'; }

echo "==> DASH 720p segments (16 connections, ${segment_seconds}s, $rounds rounds)"
measure "DASH 720p segments (400, every 9th)" dash720 16 "$segment_seconds"
for name in media mpd; do
  title=$([[ $name == media ]] && echo "HLS 720p media playlist" || echo "MPD")
  echo "==> $title (32 connections, ${seconds}s, $rounds rounds)"
  measure "$title" "$name" 32 "$seconds"
  for delay in $paced_delays; do
    measure "$title, paced $delay ms" "$name" 32 "$seconds" "$delay"
  done
done

boxes() { # top-level ISO BMFF boxes of a file: "type size, ..."
  local f=$1 off=0 len sz typ list=""
  len=$(stat -c %s "$f")
  while ((off + 8 <= len)); do
    sz=$(od -An -tu1 -j"$off" -N4 "$f" | awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }')
    typ=$(dd if="$f" bs=1 skip=$((off + 4)) count=4 2>/dev/null)
    list+="${list:+, }$typ $sz"
    ((sz >= 8)) || break
    off=$((off + sz))
  done
  echo "$list"
}
# What differs between the outputs (facts from the responses fetched above).
echo
echo "### What the two servers answer"
echo
for s in $servers; do
  extinf=$(grep -c '^#EXTINF' "$work/$s-media.body" || true)
  durs=$(sed -n 's/^#EXTINF:\([0-9.]*\).*/\1/p' "$work/$s-media.body" | sort -g | uniq -c | awk '{ printf "%s%s × %s", (NR > 1 ? ", " : ""), $1, $2 }')
  firstseg=$(awk '!/^#/ { print; exit }' "$work/$s-media.body")
  mpd_s=$(awk '{ n += gsub(/<S /, "") } END { print n + 0 }' "$work/$s-mpd.body")
  reps=$(awk '{ n += gsub(/<Representation([ >]|$)/, "") } END { print n + 0 }' "$work/$s-mpd.body")
  template=$(grep -o -m1 'media="[^"]*"' "$work/$s-mpd.body" | head -1 || true)
  echo "- $(label "$s"): DASH segment ${url[$s dash720]} (average $(sizefmt "${size[$s dash720]}") over the 400);" \
    "HLS media playlist ${url[$s media]}: $(sizefmt "${size[$s media]}"), $extinf segments, EXTINF values $durs, first segment \`$firstseg\`;" \
    "MPD ${url[$s mpd]}: $(sizefmt "${size[$s mpd]}"), $reps representations, $mpd_s \`<S>\` elements, first template \`$template\`;" \
    "boxes of the first DASH segment: $(boxes "$work/$s-seg1")."
done
echo
echo "### Rows (medians over $rounds rounds, min–max in brackets)"
echo
echo "| Row | Server | response size | req/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|---|"
printf '%s' "$rows"
if ((failed)); then
  echo "peer-vod: some answers were not 2xx (marked above; the servers' error logs say why)" >&2
  exit 1
fi
