/*
 * Pure functions of the upstream path (no httpd, no APR), shared by the subrequest and libcurl
 * readers: the text ones read what storage and clients send, so they are fuzzed on their own
 * (Fuzz/C/).
 */
#ifndef ORIGO_URL_H
#define ORIGO_URL_H

#include <stddef.h>
#include <stdint.h>

/* An upstream body on its way to the engine: malloc memory (the engine frees it), bounded. */
typedef struct origo_body_buffer {
    unsigned char *data;
    size_t len;
    size_t cap;
    uint64_t max;               /* bytes allowed in all */
} origo_body_buffer;

/*
 * Appends `n` bytes, growing by doubling. Returns 0 and appends nothing when the result would
 * exceed `max` or memory ran out.
 */
int origo_body_append(origo_body_buffer *b, const char *bytes, size_t n);

/* The Range value of a read ("bytes=10-19", "bytes=10-" when `length` is 0), or "" when both are
   0 (the whole object, no Range). Returns `buf`. */
char *origo_range_value(uint64_t offset, uint64_t length, char *buf, size_t size);

/* An origin: scheme, host and port, the unit that allow-lists compare. */
#define ORIGO_HOST_MAX 256
typedef struct origo_origin {
    int https;                  /* 0: http, 1: https */
    char host[ORIGO_HOST_MAX];  /* lower case, IPv6 literals without brackets */
    unsigned port;              /* never 0: the scheme's default when none is written */
} origo_origin;

/*
 * Parses "http://host[:port][/…]", "https://host[:port][/…]" or, when `bare_ok`, "host[:port]"
 * (meaning http). IPv6 hosts are written in brackets. Returns 1, or 0 for anything else (other
 * schemes, user info, an empty host, a bad port, a host longer than ORIGO_HOST_MAX - 1).
 */
int origo_origin_parse(const char *text, int bare_ok, origo_origin *out);

/* Same scheme, host and port. */
int origo_origin_equal(const origo_origin *a, const origo_origin *b);

/*
 * Copies `url` into `out` (capacity `cap`) with every byte that may not appear in a URL on the
 * wire percent-encoded: controls, space, bytes >= 0x7F and "<>\"\\^`{|}". Existing "%xx" escapes
 * stay as they are. Returns the length written, or 0 when it does not fit.
 */
size_t origo_url_escape_unsafe(const char *url, char *out, size_t cap);

/* How many elements of a CDN-Loop header value (RFC 8586: "id[; params], …") are `token`
   (compared case-insensitively). Garbage counts as nothing. */
int origo_cdn_loop_count(const char *value, const char *token);

/* One header of the engine's origo_response.headers ("Name: value\n" lines): reads the line at
   `*cursor`, sets the name and value spans and moves `*cursor` past it. Returns 0 at the end;
   lines without a name are skipped. */
int origo_next_header(const char **cursor, const char **name, size_t *name_len, const char **value,
                      size_t *value_len);

#endif
