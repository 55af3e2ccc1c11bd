#!/usr/bin/env bash
# Builds the nginx module (ngx_http_origo_module.so) against Debian's nginx-dev, as a dynamic
# module that the packaged nginx loads with load_module (--with-compat, Debian's configure flags).
#
#   ./ngx-build.sh [--engine-lib FILE]
#
# Results: out/modules/ngx_http_origo_module.so next to out/modules/libOrigoEngine.so (found through
# an $ORIGIN rpath, so the two files must stay side by side).
#   --engine-lib   use this libOrigoEngine.so (default: out/modules/libOrigoEngine.so, which
#                  ./apxs-build.sh writes; build the engine with it first)
# Needs: nginx-dev (sources in /usr/share/nginx/src, scripts/install-deps.sh installs it).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$repo/out"
engine_lib="$out/modules/libOrigoEngine.so"
nginx_src=/usr/share/nginx/src

die() { echo "ngx-build: error: $*" >&2; exit 1; }
say() { echo "ngx-build: $*"; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --engine-lib) [[ $# -ge 2 ]] || die "--engine-lib needs a file"; engine_lib="$2"; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

[[ -f "$nginx_src/conf_flags" ]] || die "$nginx_src/conf_flags not found: install nginx-dev"
[[ -f "$engine_lib" ]] || die "engine library $engine_lib not found: run ./apxs-build.sh --skip-cli first"
mkdir -p "$out/modules"
if [[ "$(cd "$(dirname "$engine_lib")" && pwd -P)/$(basename "$engine_lib")" != "$(cd "$out/modules" && pwd -P)/libOrigoEngine.so" ]]; then
    cp -f "$engine_lib" "$out/modules/libOrigoEngine.so.tmp"
    mv -f "$out/modules/libOrigoEngine.so.tmp" "$out/modules/libOrigoEngine.so"
fi

# nginx's build writes into its source tree: work on a scratch copy of Debian's.
build="$out/ngx-build"
rm -rf "$build"
mkdir -p "$build"
cp -r "$nginx_src/." "$build/"
# shellcheck disable=SC1091
source "$build/conf_flags"
say "configuring against $(dpkg-query -W -f='nginx-dev ${Version}' nginx-dev 2>/dev/null || echo "$nginx_src")"
(
    cd "$build"
    export ORIGO_ENGINE_LIBDIR="$out/modules"
    export ORIGO_RPATH_FILE="$build/origin-rpath.ld"
    # A linker response file is read without a shell: the '$' stays literal.
    printf '%s\n' '-rpath=$ORIGIN' >"$ORIGO_RPATH_FILE"
    ./configure "${NGX_CONF_FLAGS[@]}" --add-dynamic-module="$repo/ngx_glue" >configure.log 2>&1 \
        || { tail -n 30 configure.log >&2; die "nginx configure failed (see $build/configure.log)"; }
    say "compiling"
    make -f objs/Makefile modules >make.log 2>&1 || { grep -B2 -A8 -i 'error' make.log >&2 || tail -n 40 make.log >&2; die "make failed (see $build/make.log)"; }
    if grep -qi 'warning' make.log; then grep -i -B2 -A3 'warning' make.log >&2; fi
)
cp -f "$build/objs/ngx_http_origo_module.so" "$out/modules/ngx_http_origo_module.so.tmp"
mv -f "$out/modules/ngx_http_origo_module.so.tmp" "$out/modules/ngx_http_origo_module.so"

so="$out/modules/ngx_http_origo_module.so"
if ldd "$so" | grep -q 'not found'; then
    ldd "$so" >&2
    die "$so has unresolved libraries"
fi
readelf -d "$so" | grep -q 'R.*PATH.*\$ORIGIN' || die "$so lacks the \$ORIGIN rpath"
say "built $so"
