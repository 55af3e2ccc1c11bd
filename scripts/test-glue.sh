#!/usr/bin/env bash
# Builds and runs the C unit tests of mod_glue's pure parts (no Apache needed):
#   out/test/origo_s3_test   AWS SigV4 signing (mod_glue/origo_s3.c) against AWS's documented examples.
# Usage: scripts/test-glue.sh [--build-only]      Needs cc and libssl-dev.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out/test
cc -std=c99 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -Imod_glue \
   -o out/test/origo_s3_test Tests/glue/origo_s3_test.c mod_glue/origo_s3.c -lcrypto
if [[ "${1:-}" != "--build-only" ]]; then
    out/test/origo_s3_test
fi
