#!/usr/bin/env bash
# Builds and runs the C unit tests of mod_glue's pure parts (no Apache needed):
#   out/test/origo_s3_test   AWS SigV4 signing (mod_glue/origo_s3.c) against AWS's documented examples.
#   out/test/origo_curl_test the libcurl upstream client (mod_glue/origo_curl.c) against a misbehaving
#                            local server (Tests/glue/curl_test_server.py, 127.0.0.1, stops by itself).
# Usage: scripts/test-glue.sh [--build-only]
# Needs cc, libssl-dev, libcurl4-openssl-dev and python3 (and the openssl command for the TLS cases).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out/test
cc -std=c99 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -Imod_glue \
   -o out/test/origo_s3_test Tests/glue/origo_s3_test.c mod_glue/origo_s3.c -lcrypto
cc -std=c99 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -Imod_glue -ISources/CEngineAPI/include \
   -o out/test/origo_curl_test Tests/glue/origo_curl_test.c mod_glue/origo_curl.c mod_glue/origo_url.c -lcurl -lpthread
if [[ "${1:-}" != "--build-only" ]]; then
    out/test/origo_s3_test
    out/test/origo_curl_test Tests/glue/curl_test_server.py
fi
