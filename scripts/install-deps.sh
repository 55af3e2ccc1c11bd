#!/usr/bin/env bash
# Installs the Debian packages Origo needs to build, serve and test.
# Usage: scripts/install-deps.sh [--test]   (--test adds the real clients used by the test suite)
set -euo pipefail
want_test=0
[ "${1:-}" = "--test" ] && want_test=1
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
build_pkgs="apache2 apache2-dev nginx nginx-dev libapr1-dev libaprutil1-dev libssl-dev zlib1g-dev libcurl4-openssl-dev ffmpeg curl python3-venv"
test_pkgs="gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav vlc-bin vlc-plugin-base chromium wrk strace openssl valgrind"
pkgs="$build_pkgs"
[ $want_test -eq 1 ] && pkgs="$pkgs $test_pkgs"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
# The system Apache and nginx are never used (scripts/origo-httpd and scripts/origo-nginx run private
# ones): stop them so port 80 and their pid files stay quiet.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now apache2 >/dev/null 2>&1 || true
  $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
fi
$SUDO apache2ctl -k stop >/dev/null 2>&1 || true
if [ -f /run/nginx.pid ]; then $SUDO nginx -s quit >/dev/null 2>&1 || true; fi
