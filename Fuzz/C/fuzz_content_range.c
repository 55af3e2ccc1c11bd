/*
 * libFuzzer target: one input is a Content-Range header value ("bytes a-b/total").
 * Code under test: origo_parse_content_range (mod_glue/origo_url.c). Built by scripts/fuzz-c.sh.
 * Besides the sanitizers it checks: start <= last, total is 0 ('*') or beyond last, and that the
 * three numbers written back in the canonical form parse to the same numbers.
 */
#include "origo_url.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = malloc(size + 1);
    uint64_t start, last, total, s2, l2, t2;
    char again[80];

    if (value == NULL) {
        return 0;
    }
    memcpy(value, data, size);
    value[size] = '\0';
    if (origo_parse_content_range(value, &start, &last, &total)) {
        if (start > last || (total != 0 && total <= last)) {
            abort();
        }
        if (total != 0) {
            snprintf(again, sizeof(again), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, last, total);
        }
        else {
            snprintf(again, sizeof(again), "bytes %" PRIu64 "-%" PRIu64 "/*", start, last);
        }
        if (!origo_parse_content_range(again, &s2, &l2, &t2) || s2 != start || l2 != last || t2 != total) {
            abort();
        }
    }
    free(value);
    return 0;
}
