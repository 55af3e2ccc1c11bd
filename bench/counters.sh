#!/usr/bin/env bash
# What the status counters cost a warm request: instructions Apache executes per request (callgrind
# on a single-process Apache, `httpd -X` with the prefork MPM), with `OrigoMetrics on` and `off`, for the
# cheapest segment requests of the benchmark presentation (where a fixed cost weighs most) and a
# media playlist. Instruction counts do not move between runs the way rates do, so a difference of
# well under 1 % is measurable; what they do not show (atomic additions contending for a cache line
# between cores) is a few dozen nanoseconds per addition at most.
# Usage: bench/counters.sh MEDIA_DIR [REQUESTS]   (MEDIA_DIR from bench/make-long-media.sh; built
# module in out/modules). Prints a Markdown table; bench/run.sh puts it into RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
media=${1:?usage: bench/counters.sh MEDIA_DIR [REQUESTS]}
requests=${2:-400}
port=${ORIGO_BENCH_COUNTERS_PORT:-8098}
listen=127.0.0.1:$port
base=http://$listen
command -v valgrind >/dev/null || { echo "counters: valgrind is missing (scripts/install-deps.sh --test)" >&2; exit 1; }
work=$(mktemp -d /tmp/origo-counters.XXXX)
chmod 755 "$work"
mkdir "$work/out"
pid=""
trap '[[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# valgrind 3.19 cannot read the DWARF 5 of Swift's objects: run a copy without debug information.
cp out/modules/mod_origo.so out/modules/libOrigoEngine.so "$work/"
strip -g "$work/libOrigoEngine.so" "$work/mod_origo.so"

# The launcher writes the configuration; Apache then runs in the foreground under callgrind.
config() { # on|off
  printf 'OrigoMetrics %s\n<Location /origo-status>\n  SetHandler origo-status\n</Location>\n' "$1" >"$work/site.conf"
  scripts/origo-httpd start --root "$media" --listen "$listen" --mpm prefork --include "$work/site.conf" >/dev/null
  scripts/origo-httpd stop --listen "$listen" >/dev/null
  sed "s|^LoadModule origo_module .*|LoadModule origo_module \"$work/mod_origo.so\"|" \
    "/tmp/origo-httpd/$port/conf/httpd.conf" >"$work/httpd.conf"
}

# Instructions of one Apache process (prefork, -X: one process, one thread) from start to stop,
# having answered the list of curl arguments (`-o /dev/null URL` per line, one keep-alive
# connection) `passes` times.
run_apache() { # passes urlfile
  local out=$work/out/callgrind.out.$RANDOM
  # valgrind creates the file as root, Apache writes it after switching to www-data.
  : >"$out"
  chmod 666 "$out"
  valgrind --tool=callgrind --callgrind-out-file="$out" /usr/sbin/apache2 -X -f "$work/httpd.conf" \
    >"$work/valgrind.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do curl -s -o /dev/null "$base/" && break; sleep 0.1; done
  for ((p = 0; p < $1; p++)); do xargs curl -s <"$2"; done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
  awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

# Instructions per request of a list: a run with one more pass over it than another, both after a
# first unmeasured pass (start-up, loading and warming cancel out).
measure() { # on|off urlfile
  config "$1"
  local one two
  one=$(run_apache 2 "$2")
  two=$(run_apache 3 "$2")
  echo $(( (two - one) / $(wc -l <"$2") ))
}

dash=$work/dash.urls
ts=$work/ts.urls
playlist=$work/playlist.urls
for ((k = 1; k <= requests; k++)); do
  echo "-o /dev/null $base/long.ism/long-video=500000-n$(( (k * 9) % 3600 + 1 )).dash"
done >"$dash"
for ((k = 1; k <= requests; k++)); do
  echo "-o /dev/null $base/long.ism/long-video=500000-$(( (k * 9) % 1800 + 1 )).ts"
done >"$ts"
for ((k = 1; k <= requests / 4; k++)); do echo "-o /dev/null $base/long.ism/long-video=500000.m3u8"; done >"$playlist"

echo "| Request | instructions per request, counters on | off | cost of counting |"
echo "|---|---|---|---|"
for row in "DASH segment 360p:$dash" "TS segment 360p:$ts" "HLS media playlist (2 h):$playlist"; do
  name=${row%%:*}
  file=${row#*:}
  on=$(measure on "$file")
  off=$(measure off "$file")
  cost=$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%+d (%.2f %%)", a - b, (a - b) * 100 / b }')
  echo "| $name | $on | $off | $cost |"
done
