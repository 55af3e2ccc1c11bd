/*
 * libFuzzer target: one input is an upstream URL or a header value (a C string; a NUL ends it).
 * Code under test (mod_glue/origo_url.c): origo_origin_parse and origo_origin_equal (the input as
 * a URL and as a bare host), origo_url_escape_unsafe and origo_cdn_loop_count. (Where a proxied
 * path's manifest part ends is the engine's: FuzzPlayerURL.) Built by scripts/fuzz-c.sh.
 * Invariants checked are noted at each step.
 */
#include "origo_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "invariant failed: %s\n", #cond); abort(); } } while (0)

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A parsed origin has a non-empty lower-case host of host bytes, a port in 1..65535, and written
   back as "scheme://host:port" parses to the same origin. */
static int check_origin(const char *s, int bare_ok, origo_origin *o)
{
    char again[ORIGO_HOST_MAX + 32];
    origo_origin o2;
    size_t i, n;
    int ipv6;

    if (!origo_origin_parse(s, bare_ok, o)) {
        return 0;
    }
    n = strlen(o->host);
    CHECK(n > 0 && n < ORIGO_HOST_MAX);
    CHECK(o->port >= 1 && o->port <= 65535);
    CHECK(o->https == 0 || o->https == 1);
    ipv6 = strchr(o->host, ':') != NULL;
    for (i = 0; i < n; i++) {
        char c = o->host[i];
        CHECK(!(c >= 'A' && c <= 'Z'));
        CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == ':');
    }
    snprintf(again, sizeof(again), ipv6 ? "%s://[%s]:%u" : "%s://%s:%u", o->https ? "https" : "http", o->host, o->port);
    CHECK(origo_origin_parse(again, 0, &o2) && origo_origin_equal(o, &o2) && origo_origin_equal(&o2, o));
    return 1;
}

/* Percent-decoding, a '%' without two hex digits kept as it is. */
static char *decode(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;

    CHECK(out != NULL);
    for (; *s != '\0'; s++) {
        if (s[0] == '%' && is_hex(s[1]) && is_hex(s[2])) {
            char h[3] = { s[1], s[2], '\0' };
            *o++ = (char)strtol(h, NULL, 16);
            s += 2;
        }
        else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return out;
}

/* The output holds only safe printable bytes and whole "%XX" escapes, decodes to what the input
   decodes to, is its own escape, and a small buffer either holds the same or reports 0. */
static void check_escape(const char *s)
{
    size_t len = strlen(s), cap = 3 * len + 1, n, i, small_cap = 1 + len % 24;
    char *out = malloc(cap), *again = malloc(cap), *small = malloc(small_cap), *d1, *d2;

    CHECK(out != NULL && again != NULL && small != NULL);
    n = origo_url_escape_unsafe(s, out, cap);
    CHECK(n == 0 ? len == 0 : (n < cap && strlen(out) == n));
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        CHECK(c > 0x20 && c < 0x7F && strchr("<>\"\\^`{|}", c) == NULL);
        CHECK(c != '%' || (is_hex(out[i + 1]) && is_hex(out[i + 2])));
    }
    d1 = decode(s);
    d2 = decode(out);
    CHECK(strcmp(d1, d2) == 0);
    CHECK(origo_url_escape_unsafe(out, again, cap) == n && (n == 0 || strcmp(again, out) == 0));
    i = origo_url_escape_unsafe(s, small, small_cap);   /* ASan catches a write past small_cap */
    CHECK(i == 0 || (i == n && strcmp(small, out) == 0));
    free(d1);
    free(d2);
    free(out);
    free(again);
    free(small);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    origo_origin url, bare;
    int url_ok, bare_ok, count;
    size_t i, elements = 1;

    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';


    url_ok = check_origin(s, 0, &url);
    bare_ok = check_origin(s, 1, &bare);
    CHECK(!url_ok || (bare_ok && origo_origin_equal(&url, &bare)));   /* bare_ok only adds forms */

    check_escape(s);

    for (i = 0; s[i] != '\0'; i++) {
        elements += s[i] == ',';
    }
    count = origo_cdn_loop_count(s, "origo");
    CHECK(count >= 0 && (size_t)count <= elements);
    CHECK(origo_cdn_loop_count(s, "") == 0);
    free(s);
    return 0;
}
