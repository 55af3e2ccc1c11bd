#!/usr/bin/env bash
# Builds the Swift engine (libOrigoEngine.so), the CLI (origo) and the Apache module (mod_origo.so).
#
#   ./apxs-build.sh [--install] [--scratch-path DIR] [--engine-lib FILE] [--skip-cli]
#
# Results: out/modules/mod_origo.so, out/modules/libOrigoEngine.so (found through an $ORIGIN
# rpath, so the two files must stay side by side) and out/bin/origo.
#   --install         also copy both libraries into `apxs -q LIBEXECDIR` (temporary name + mv,
#                     never in place) and write /etc/apache2/mods-available/origo.load
#   --scratch-path    SwiftPM scratch directory (default: .build)
#   --engine-lib      use an already built libOrigoEngine.so instead of running swift build
#   --skip-cli        do not build the origo CLI
# Environment: DESTDIR=/some/root stages --install under that root instead of /.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
install=0
scratch="$repo/.build"
engine_lib=""
build_cli=1

die() { echo "apxs-build: error: $*" >&2; exit 1; }
say() { echo "apxs-build: $*"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --install) install=1 ;;
        --scratch-path) [[ $# -ge 2 ]] || die "--scratch-path needs a directory"; scratch="$2"; shift ;;
        --engine-lib) [[ $# -ge 2 ]] || die "--engine-lib needs a file"; engine_lib="$2"; shift ;;
        --skip-cli) build_cli=0 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

apxs="$(command -v apxs || command -v apxs2 || true)"
[[ -n "$apxs" ]] || die "apxs not found: install apache2-dev"

out="$repo/out"
mkdir -p "$out/modules" "$out/bin"

# 1. The engine: a self-contained shared library (Swift stdlib linked in statically).
if [[ -z "$engine_lib" ]]; then
    command -v swift >/dev/null || PATH="/opt/swift/usr/bin:$PATH"
    command -v swift >/dev/null || die "swift not found (expected in PATH or /opt/swift/usr/bin)"
    say "building the engine (swift build -c release --product OrigoEngine -static-stdlib)"
    (cd "$repo" && swift build -c release --scratch-path "$scratch" --product OrigoEngine -Xswiftc -static-stdlib)
    bin="$(cd "$repo" && swift build -c release --scratch-path "$scratch" --show-bin-path)"
    engine_lib="$bin/libOrigoEngine.so"
    if [[ $build_cli -eq 1 ]]; then
        say "building the CLI (swift build -c release --product origo -static-stdlib)"
        (cd "$repo" && swift build -c release --scratch-path "$scratch" --product origo -Xswiftc -static-stdlib)
        cp -f "$bin/origo" "$out/bin/origo.tmp" && mv -f "$out/bin/origo.tmp" "$out/bin/origo"
    fi
fi
[[ -f "$engine_lib" ]] || die "engine library not found: $engine_lib"
cp -f "$engine_lib" "$out/modules/libOrigoEngine.so.tmp"
mv -f "$out/modules/libOrigoEngine.so.tmp" "$out/modules/libOrigoEngine.so"

# 2. The module, compiled in a scratch copy so libtool's objects stay out of the source tree.
say "building mod_origo.so with $apxs"
build="$out/build"
rm -rf "$build"
mkdir -p "$build"
cp "$repo"/mod_glue/*.c "$repo"/mod_glue/*.h "$build/"
(
    cd "$build"
    # '-Wl,-Wl,-rpath,...' survives libtool (a plain -Wl,-rpath is dropped); the backslash keeps
    # $ORIGIN literal through libtool's eval so the loader resolves it next to mod_origo.so.
    "$apxs" -c -o mod_origo.la \
        -I "$repo/Sources/CEngineAPI/include" \
        -Wc,-std=c99 -Wc,-Wall -Wc,-Wextra \
        -L "$out/modules" -lOrigoEngine -lcrypto -lcurl \
        '-Wl,-Wl,-rpath,\$ORIGIN' \
        mod_origo.c origo_config.c origo_bridge.c origo_upstream.c origo_url.c origo_curl.c origo_s3.c origo_s3_apache.c origo_metrics.c origo_ingest.c >build.log 2>&1 || { cat build.log >&2; die "apxs failed"; }
    if grep -qi 'warning' build.log; then grep -i -B2 -A3 'warning' build.log >&2; fi
)
cp -f "$build/.libs/mod_origo.so" "$out/modules/mod_origo.so.tmp"
mv -f "$out/modules/mod_origo.so.tmp" "$out/modules/mod_origo.so"

# 3. Check that the module finds everything it links against.
if ldd "$out/modules/mod_origo.so" | grep -q 'not found'; then
    ldd "$out/modules/mod_origo.so" >&2
    die "mod_origo.so has unresolved libraries"
fi
readelf -d "$out/modules/mod_origo.so" | grep -q 'R.*PATH.*\$ORIGIN' || die "mod_origo.so lacks the \$ORIGIN rpath"
say "built $out/modules/mod_origo.so and $out/modules/libOrigoEngine.so"
if [[ -f "$out/bin/origo" ]]; then say "built $out/bin/origo"; fi

# 4. Optional install next to the system's modules.
if [[ $install -eq 1 ]]; then
    # DESTDIR (optional) stages the install under another root, e.g. for packaging or a dry run.
    destdir="${DESTDIR:-}"
    libexec="$("$apxs" -q LIBEXECDIR)"
    target="$destdir$libexec"
    [[ -n "$destdir" ]] && mkdir -p "$target"
    [[ -d "$target" && -w "$target" ]] || die "cannot write to $target (run as root?)"
    for f in libOrigoEngine.so mod_origo.so; do
        # Never overwrite a loaded .so in place: a new inode via mv leaves running processes alone.
        cp -f "$out/modules/$f" "$target/.$f.new.$$"
        mv -f "$target/.$f.new.$$" "$target/$f"
    done
    load_dir="$destdir/etc/apache2/mods-available"
    [[ -n "$destdir" ]] && mkdir -p "$load_dir"
    if [[ -d "$load_dir" ]]; then
        printf 'LoadModule origo_module %s/mod_origo.so\n' "$libexec" >"$load_dir/.origo.load.$$"
        mv -f "$load_dir/.origo.load.$$" "$load_dir/origo.load"
        say "wrote $load_dir/origo.load (enable with: a2enmod origo)"
    else
        say "no $load_dir (not a Debian layout): add 'LoadModule origo_module $libexec/mod_origo.so' yourself"
    fi
    say "installed into $target"
    say "a running Apache keeps the old engine in memory: do a full stop/start, not a graceful restart"
fi
