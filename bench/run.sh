#!/usr/bin/env bash
# Origo benchmark: the engine inside Apache, and inside nginx, each against the same server serving
# the very same bytes as static files, in the same run, on this machine. Builds in release mode,
# makes (or reuses) the 2-hour presentation, starts Apache and nginx through the launchers, drives
# them with wrk over loopback and writes bench/RESULTS.md.
# Usage: bench/run.sh            Environment: ORIGO_BENCH_MEDIA (default /tmp/origo-bench-media),
#        ORIGO_BENCH_SECONDS (per manifest wrk run, default 20), ORIGO_BENCH_PORT (default 8099),
#        ORIGO_BENCH_SEGMENT_SECONDS (per segment wrk run, default 10),
#        ORIGO_BENCH_ROUNDS (origin/static pairs per segment row, default 6),
#        ORIGO_BENCH_CONF (directives added to the server's configuration, for A/B runs),
#        ORIGO_BENCH_SEGMENTS (segment rows, default all: "dash720 dash360 fmp4720 fmp4360 ts720 ts360
#        dash720cenc ts720aes fmp4720cbcs"), ORIGO_BENCH_SERVERS (default "apache nginx"; nginx on
#        ORIGO_BENCH_PORT + 1), ORIGO_BENCH_INDEX_STORE=1 (also the index store's rows,
#        bench/index-store.sh: slow, printed only).
# With ORIGO_BENCH_SEGMENTS set, only those segment rows run and RESULTS.md is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
media=${ORIGO_BENCH_MEDIA:-/tmp/origo-bench-media}
seconds=${ORIGO_BENCH_SECONDS:-20}
paced_delays=${ORIGO_BENCH_PACED:-8 4 2 1}
port=${ORIGO_BENCH_PORT:-8099}
rounds=${ORIGO_BENCH_ROUNDS:-6}
segment_seconds=${ORIGO_BENCH_SEGMENT_SECONDS:-10}
segments=${ORIGO_BENCH_SEGMENTS:-dash720 dash360 fmp4720 fmp4360 ts720 ts360 dash720cenc ts720aes fmp4720cbcs}
servers=${ORIGO_BENCH_SERVERS:-apache nginx}
listen=127.0.0.1:$port
nginx_listen=127.0.0.1:$((port + 1))
base=http://$listen
results=bench/RESULTS.md
work=$(mktemp -d /tmp/origo-bench.XXXX)
trap 'scripts/origo-httpd stop --listen "$listen" >/dev/null 2>&1 || true
      scripts/origo-nginx stop --listen "$nginx_listen" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
command -v swift >/dev/null 2>&1 || export PATH=/opt/swift/usr/bin:$PATH
command -v wrk >/dev/null || { echo "bench: wrk is missing (scripts/install-deps.sh --test)" >&2; exit 1; }

echo "==> release build"
./apxs-build.sh >/dev/null
[[ " $servers " != *" nginx "* ]] || ./ngx-build.sh >/dev/null
swift build -c release --product OrigoBench >/dev/null
bench_bin=$(swift build -c release --show-bin-path)/OrigoBench

echo "==> media ($media)"
bench/make-long-media.sh "$media"

# Static copies of every segment the dynamic runs request, fetched once from the origin.
static=$media/static
rm -rf "$static"
mkdir -p "$static"
chmod a+rx "$static"

# A fixed pool of long-lived children (bench/pool.conf says why).
cp bench/pool.conf "$work/pool.conf"
# ORIGO_BENCH_CONF: more directives for the server, for A/B runs (e.g. "EnableMMAP Off").
printf '%b\n' "${ORIGO_BENCH_CONF:-}" >>"$work/pool.conf"
# nginx: two workers (the cores), each with its own caches like an Apache child; the engine's
# misses run on nginx's default thread pool.
start_server() { # apache|nginx: starts it and points $base at it
  case $1 in
    apache) scripts/origo-httpd start --root "$media" --listen "$listen" --mpm event --include "$work/pool.conf" >/dev/null
            base=http://$listen ;;
    nginx) scripts/origo-nginx start --root "$media" --listen "$nginx_listen" --workers 2 >/dev/null
           base=http://$nginx_listen ;;
    *) echo "bench: unknown server $1 (ORIGO_BENCH_SERVERS: apache, nginx)" >&2; exit 2 ;;
  esac
}
stop_server() {
  case $1 in
    apache) scripts/origo-httpd stop --listen "$listen" >/dev/null ;;
    nginx) scripts/origo-nginx stop --listen "$nginx_listen" >/dev/null ;;
  esac
}
# The first server also makes the static copies (both answer the same bytes: test_nginx.py).
first=${servers%% *}
start_server "$first"

# Segment URL lists: every 9th segment over the whole 2-hour timeline (400 each).
list() { # name template(with %d) count step [server manifest, default long.ism]
  local name=$1 template=$2 count=$3 step=$4 ism=${5:-long.ism} k
  [[ " $segments " == *" $name "* ]] || return 0    # a row that does not run needs no copies
  : >"$work/$name.dyn"
  : >"$work/$name.static"
  for ((k = 1; k <= count; k += step)); do
    local path
    path=$(printf "$template" "$k")
    echo "/$ism/$path" >>"$work/$name.dyn"
    local file="$static/$name-$k"
    curl -sf -o "$file" "$base/$ism/$path"
    echo "/static/$name-$k" >>"$work/$name.static"
  done
  chmod -R a+r "$static"
}
echo "==> fetching segments once for the static copies"
list dash720 "long-video=2500000-n%d.dash" 3600 9
list dash360 "long-video=500000-n%d.dash" 3600 9
list fmp4720 "long-video=2500000-%d.m4s" 1800 9
list fmp4360 "long-video=500000-%d.m4s" 1800 9
list ts720 "long-video=2500000-%d.ts" 1800 9
list ts360 "long-video=500000-%d.ts" 1800 9
# Encrypted (bench/make-long-media.sh writes these server manifests): the static copies are the
# encrypted bytes.
list dash720cenc "long-cenc-video=2500000-n%d.dash" 3600 9 long-cenc.ism
list ts720aes "long-aes-video=2500000-%d.ts" 1800 9 long-aes.ism
list fmp4720cbcs "long-cbcs-video=2500000-%d.m4s" 1800 9 long-cbcs.ism
printf '/long.ism/.m3u8\n' >"$work/master.dyn"
printf '/long.ism/long-video=2500000.m3u8\n' >"$work/media.dyn"
printf '/long.ism/.mpd\n' >"$work/mpd.dyn"
# Per-viewer URLs: the same media playlist with 400 different session ids.
for ((k = 1; k <= 400; k++)); do echo "/long.ism/long-video=2500000.m3u8?session_id=$k"; done >"$work/sessions.dyn"

# wrk run -> "requests/s p50 p99" (latencies in ms). A short unmeasured run first warms every
# Apache child (each process has its own caches: the first request per child loads the presentation).
run_wrk() { # pathsfile connections [delay ms per request and connection: a paced load]
  local out
  ORIGO_PATHS=$1 wrk -t2 -c"$2" -d2s -s bench/rotate.lua "$base" >/dev/null 2>&1
  out=$(ORIGO_DELAY_MS=${3:-} ORIGO_PATHS=$1 wrk -t2 -c"$2" -d"${seconds}s" --latency -s bench/rotate.lua "$base" 2>&1)
  if grep -q "Non-2xx" <<<"$out"; then echo "bench: non-2xx answers:" >&2; echo "$out" >&2; exit 1; fi
  local rps p50 p99
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  echo "$rps $(ms "$p50") $(ms "$p99")"
}
ms() { # wrk duration (e.g. 1.23ms, 850.00us, 1.02s) -> milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
bytes_avg() { # average size of the static copies of a list
  local total=0 count=0 f
  for f in "$static/$1"-*; do total=$((total + $(stat -c %s "$f"))); count=$((count + 1)); done
  echo $((total / count))
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# The static rate of the same bytes moves by up to 20 % between runs on this machine, so each row
# alternates origin and static runs `rounds` times: medians of each, and the median of the
# per-round ratios (each round's two runs are back to back, origin first in odd rounds and static
# first in even ones, so a drift of the machine over a row favours neither side).
declare -A seg_rows man_rows paced_rows under5_rows cold_rows
col() { printf '%s' "$rounds_table" | cut -d' ' -f"$1"; }  # column $1 of this row's rounds
m() { col "$1" | median; }
segment_rows() { # server
  echo "==> $1: segments, dynamic vs static (wrk, ${segment_seconds}s each, 16 connections, $rounds rounds)"
  local name r drps dp50 dp99 srps sp50 sp99 ratio size all
  for name in $segments; do
    rounds_table=""  # one line per round: origin req/s p50 p99, static req/s p50 p99, ratio
    for ((r = 1; r <= rounds; r++)); do
      if ((r % 2)); then
        read -r drps dp50 dp99 < <(seconds=$segment_seconds run_wrk "$work/$name.dyn" 16)
        read -r srps sp50 sp99 < <(seconds=$segment_seconds run_wrk "$work/$name.static" 16)
      else
        read -r srps sp50 sp99 < <(seconds=$segment_seconds run_wrk "$work/$name.static" 16)
        read -r drps dp50 dp99 < <(seconds=$segment_seconds run_wrk "$work/$name.dyn" 16)
      fi
      ratio=$(awk -v a="$drps" -v b="$srps" 'BEGIN { printf "%.2f", a / b }')
      echo "  $name round $r: origin $drps/s, static $srps/s, ratio $ratio"
      rounds_table+="$drps $dp50 $dp99 $srps $sp50 $sp99 $ratio"$'\n'
    done
    ratio=$(m 7)
    size=$(( $(bytes_avg "$name") / 1024 ))
    all=$(col 7 | paste -sd' ' | sed 's/ / · /g')
    echo "  $name: median ratio $ratio ($all)"
    seg_rows[$1]+="| $name | $size KiB | $(m 1) | $(m 2) / $(m 3) | $(m 4) | $(m 5) / $(m 6) | **$ratio** | $all |"$'\n'
  done
}

manifest_rows() { # server
  echo "==> $1: manifests (32 connections), and the same bytes as static files"
  local name rps p50 p99 srps sp50 sp99 best sbest delay
  for name in master media mpd; do
    curl -sf -o "$static/manifest-$name" "$base$(head -1 "$work/$name.dyn")"
    chmod a+r "$static/manifest-$name"
    echo "/static/manifest-$name" >"$work/$name.static"
    read -r rps p50 p99 < <(run_wrk "$work/$name.dyn" 32)
    read -r srps sp50 sp99 < <(run_wrk "$work/$name.static" 32)
    echo "  $name: $rps/s p99 $p99 ms (static: $srps/s p99 $sp99 ms)"
    man_rows[$1]+="| $name | $(head -1 "$work/$name.dyn") | $(( $(stat -c %s "$static/manifest-$name") / 1024 )) KiB | $rps | $p50 | $p99 | $srps | $sp50 | $sp99 | **$(awk -v a="$rps" -v b="$srps" 'BEGIN { printf "%.2f", a / b }')** |"$'\n'
    # Paced loads: each connection waits a few ms between requests, from about 3,500 requests/s
    # (8 ms) to near saturation (1 ms): where the p99 stays under 5 ms, for the origin and static.
    best=0
    sbest=0
    for delay in $paced_delays; do
      read -r rps p50 p99 < <(run_wrk "$work/$name.dyn" 32 "$delay")
      read -r srps sp50 sp99 < <(run_wrk "$work/$name.static" 32 "$delay")
      echo "  $name paced ($delay ms): $rps/s p99 $p99 ms (static: $srps/s p99 $sp99 ms)"
      paced_rows[$1]+="| $name | $delay ms | $rps | $p50 | $p99 | $srps | $sp50 | $sp99 |"$'\n'
      best=$(awk -v b="$best" -v r="$rps" -v p="$p99" 'BEGIN { print (p < 5 && r > b) ? r : b }')
      sbest=$(awk -v b="$sbest" -v r="$srps" -v p="$sp99" 'BEGIN { print (p < 5 && r > b) ? r : b }')
    done
    under5_rows[$1]+="| $name | $best | $sbest |"$'\n'
  done
  read -r rps p50 p99 < <(run_wrk "$work/sessions.dyn" 32)
  echo "  media, 400 session ids: $rps/s p99 $p99 ms"
  man_rows[$1]+="| media, 400 session ids | /long.ism/long-video=2500000.m3u8?session_id=1…400 | $(( $(stat -c %s "$static/manifest-media") / 1024 )) KiB | $rps | $p50 | $p99 | | | | |"$'\n'
}

cold_row() { # server: the first 1080p segment from freshly started processes, then the next one
  echo "==> $1: cold first segment (fresh processes, index not built yet)"
  stop_server "$1"
  # The launchers keep an index store across restarts (docs/INDEX-STORE.md): empty it, so that
  # this row stays the cold one (bench/index-store.sh measures the store).
  rm -rf "/tmp/origo-httpd/$port/index-store" "/tmp/origo-nginx/$((port + 1))/index-store"
  start_server "$1"
  # Both requests on one keep-alive connection, so the second reaches the same (now warm)
  # process: every Apache child and every nginx worker keeps its own caches.
  local cold warm cold_ms warm_ms rss
  read -r cold warm < <(curl -s -o /dev/null -o /dev/null -w '%{time_total} ' \
    "$base/long.ism/long-video=5000000-n1800.dash" "$base/long.ism/long-video=5000000-n1801.dash"; echo)
  cold_ms=$(awk -v t="$cold" 'BEGIN { printf "%.1f", t * 1000 }')
  warm_ms=$(awk -v t="$warm" 'BEGIN { printf "%.1f", t * 1000 }')
  rss=$(ps -o rss= -C "$([[ $1 == apache ]] && echo apache2 || echo nginx)" | sort -n | tail -1)
  echo "  cold $cold_ms ms, next segment $warm_ms ms"
  cold_rows[$1]="| $1 | $cold_ms ms | $warm_ms ms | $((rss / 1024)) MiB |"
}

for server in $servers; do
  [[ $server == "$first" ]] || start_server "$server"
  segment_rows "$server"
  if [[ -z ${ORIGO_BENCH_SEGMENTS:-} ]]; then
    manifest_rows "$server"
    cold_row "$server"
  fi
  stop_server "$server"
done
if [[ -n ${ORIGO_BENCH_SEGMENTS:-} ]]; then
  echo "==> only the segment rows ran (ORIGO_BENCH_SEGMENTS); $results left as it is"
  exit 0
fi

if [[ -n ${ORIGO_BENCH_INDEX_STORE:-} ]]; then
  echo "==> index store rows (bench/index-store.sh)"
  store_rows=$(bench/index-store.sh "$media")
  echo "$store_rows"
fi

echo "==> in-process engine timings"
micro=$("$bench_bin" "$media/long.ism" 100)

echo "==> what the status counters cost (callgrind, OrigoMetrics on and off)"
counters=$(bench/counters.sh "$media" 400)

server_name() { case $1 in apache) echo "Apache (event MPM, 2 children × 64 threads)" ;; nginx) echo "nginx (2 workers, the engine's misses on its default thread pool)" ;; esac; }
cpu=$(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//')
{
  echo "# Benchmark results"
  echo
  echo "Machine: $(nproc) cores ($cpu), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), $(apache2 -v | head -1 | sed 's/Server version: //'), $(nginx -v 2>&1 | sed 's/nginx version: //')."
  echo "Date: $(date -u +%Y-%m-%d). Commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources mod_glue ngx_glue || echo ' (with uncommitted changes)')."
  echo "Command: \`bench/run.sh\` (servers: $servers; wrk -t2, ${segment_seconds} s per segment run and ${seconds} s per manifest run, each after a 2 s unmeasured one; paced waits: $paced_delays ms; loopback; wrk and the server share the same $(nproc) cores)."
  echo
  echo "Presentation: 2 hours, 5 H.264 renditions (360p 0.5 Mbit/s … 1080p 5 Mbit/s, 2 s GOPs, progressive MP4), AAC eng + fra; \`long.ism\`."
  echo "Each segment run rotates over 400 segments spread over the whole timeline; the static run requests"
  echo "the very same bytes (fetched once from the origin) as files from the same server: Apache's origin is"
  echo "compared with Apache's static files, nginx's with nginx's."
  echo "What limits each figure, and the targets it is measured against: \`bench/README.md\`."
  for server in $servers; do
    echo
    echo "## $(server_name "$server")"
    echo
    echo "### Segments: origin vs static (16 connections, $rounds rounds)"
    echo
    echo "Each row alternates an origin run and a static run $rounds times (origin first in odd rounds, static first in even ones); rates and latencies are medians, the ratio is the median of the per-round ratios (all listed)."
    echo
    echo "| Segments | avg size | origin req/s | origin p50 / p99 ms | static req/s | static p50 / p99 ms | origin / static | per round |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s' "${seg_rows[$server]}"
    echo
    echo "### Manifests of the 2-hour presentation (32 connections)"
    echo
    echo "| Manifest | path | size | origin req/s | origin p50 ms | origin p99 ms | static req/s | static p50 ms | static p99 ms | origin / static |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    printf '%s' "${man_rows[$server]}"
    echo
    echo "#### The same at paced loads (32 connections, each waiting a few ms between requests)"
    echo
    echo "| Manifest | wait per request | origin req/s | origin p50 ms | origin p99 ms | static req/s | static p50 ms | static p99 ms |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s' "${paced_rows[$server]}"
    echo
    echo "Highest rate measured above with a p99 under 5 ms, origin and static:"
    echo
    echo "| Manifest | origin req/s | static req/s |"
    echo "|---|---|---|"
    printf '%s' "${under5_rows[$server]}"
  done
  echo
  echo "Segment rows: dash = DASH \`\$Number\$\` segments, fmp4 = HLS fMP4 (4 s), ts = HLS MPEG-TS (4 s, video only: audio is a separate group); 720 = 2.5 Mbit/s, 360 = 0.5 Mbit/s; cenc = DASH with Common Encryption (AES-CTR), aes = HLS AES-128, cbcs = HLS fMP4 with Common Encryption cbcs (AES-CBC, 1:9 pattern) (the static runs serve the same encrypted bytes)."
  echo "The static columns serve the very same bytes as files: at saturation (wrk and the server on the"
  echo "same 2 cores) the p99 is mostly time spent waiting for a core, for both."
  echo
  echo "## Cold start"
  echo
  echo "First 1080p DASH segment from freshly started processes (server manifest and all 7 indexes read in that request), the next segment on the same connection (same process, warm), and the largest process's RSS afterwards. Each Apache child and each nginx worker has its own caches, so every new process pays the cold cost once."
  echo
  echo "| Server | first segment | next segment | largest RSS |"
  echo "|---|---|---|---|"
  for server in $servers; do echo "${cold_rows[$server]}"; done
  echo
  echo "## Engine in process (release build, \`OrigoBench\`)"
  echo
  echo "$micro"
  echo
  echo "## What the status counters cost"
  echo
  echo "Instructions Apache executes per warm request (callgrind on \`apache2 -X\`, prefork; \`bench/counters.sh\`), with \`OrigoMetrics on\` and \`off\`:"
  echo
  echo "$counters"
  echo
  echo "Runs of single rows (encryption, live playout while ingest runs) are kept in \`bench/RESULTS-targeted.md\`."
} >"$results"
echo "==> wrote $results"
