#!/usr/bin/env bash
# Runs Origo's whole test suite: installs the Debian packages the tests need, creates/updates the
# Python venv (.venv), builds the engine and both modules once (./apxs-build.sh, ./ngx-build.sh), runs
# the Swift unit tests and then the integration tests (Tests/integration) against a private Apache
# (and, in test_nginx.py, a private nginx).
# Usage: scripts/test.sh [pytest arguments...]     Exit status: non-zero if anything failed.
# Environment: ORIGO_MPM=event|worker|prefork (Apache MPM for the integration tests, default event),
#              ORIGO_TEST_MEDIA=DIR (reuse test media made by scripts/make-media.sh DIR),
#              CI=true (also writes out/test-results/*.xml).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

step "Debian packages"
scripts/install-deps.sh --test

if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  export PATH=/opt/swift/usr/bin:$PATH
fi
if ! command -v swift >/dev/null 2>&1; then
  echo "test.sh: no Swift toolchain: install Swift 6.3 for Debian 12 into /opt/swift (or put swift on PATH)" >&2
  exit 1
fi

step "Python venv (.venv)"
if [ ! -x .venv/bin/python ]; then
  # Debian's python3 (python3-venv comes with install-deps.sh --test).
  py=/usr/bin/python3
  [ -x "$py" ] || py=python3
  "$py" -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r Tests/integration/requirements.txt

step "Build (./apxs-build.sh, ./ngx-build.sh)"
./apxs-build.sh
./ngx-build.sh

status=0
junit_unit=() junit_int=()
if [ "${CI:-}" = "true" ]; then
  mkdir -p out/test-results
  junit_unit=(--xunit-output "$repo/out/test-results/unit.xml")
  junit_int=(--junitxml "$repo/out/test-results/integration.xml")
fi

step "C unit tests (scripts/test-glue.sh)"
scripts/test-glue.sh || status=1

step "Unit tests (swift test)"
swift test "${junit_unit[@]}" || status=1

step "Command-line tool (scripts/test-cli.sh)"
scripts/test-cli.sh || status=1

step "Integration tests (pytest Tests/integration)"
.venv/bin/python -m pytest Tests/integration -p no:cacheprovider -rfE "${junit_int[@]}" "$@" || status=1

if [ $status -eq 0 ]; then
  step "All tests passed"
else
  step "FAILED (see above)"
fi
exit $status
