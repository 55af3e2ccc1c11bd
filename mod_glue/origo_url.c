/*
 * Pure text functions of the upstream path: see origo_url.h.
 */
#include "origo_url.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int origo_body_append(origo_body_buffer *b, const char *bytes, size_t n)
{
    if (n == 0) {
        return 1;
    }
    if (n > b->max || b->len > b->max - n) {
        return 0;
    }
    if (n > b->cap - b->len) {
        size_t cap = b->cap > 0 ? b->cap : 64 * 1024;
        unsigned char *grown;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                return 0;
            }
            cap *= 2;
        }
        if (cap > b->max) {
            cap = (size_t)b->max;     /* it holds len + n: checked above */
        }
        grown = realloc(b->data, cap);
        if (grown == NULL) {
            return 0;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    return 1;
}

char *origo_range_value(uint64_t offset, uint64_t length, char *buf, size_t size)
{
    if (offset == 0 && length == 0) {
        snprintf(buf, size, "%s", "");
    }
    else if (length == 0) {
        snprintf(buf, size, "bytes=%llu-", (unsigned long long)offset);
    }
    else {
        snprintf(buf, size, "bytes=%llu-%llu", (unsigned long long)offset,
                 (unsigned long long)(offset + length - 1));
    }
    return buf;
}

/* An unsigned decimal without sign or spaces, at most 19 digits; *end after it. 1 when read. */
static int read_decimal(const char *s, const char **end, uint64_t *value)
{
    uint64_t v = 0;
    int digits = 0;

    while (*s >= '0' && *s <= '9') {
        if (++digits > 19) {
            return 0;
        }
        v = v * 10 + (uint64_t)(*s - '0');
        s++;
    }
    *end = s;
    *value = v;
    return digits > 0;
}

static int is_host_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'
        || c == '_';
}

int origo_origin_parse(const char *text, int bare_ok, origo_origin *out)
{
    const char *host, *host_end, *p;
    size_t n, i;
    uint64_t port = 0;

    if (text == NULL) {
        return 0;
    }
    memset(out, 0, sizeof(*out));
    if (strncasecmp(text, "http://", 7) == 0) {
        host = text + 7;
    }
    else if (strncasecmp(text, "https://", 8) == 0) {
        out->https = 1;
        host = text + 8;
    }
    else if (bare_ok && strstr(text, "://") == NULL) {
        host = text;
    }
    else {
        return 0;
    }
    if (*host == '[') {
        host++;
        for (host_end = host; *host_end != ']'; host_end++) {
            unsigned char c = (unsigned char)*host_end;
            if (c == '\0' || !(c == ':' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                               || (c >= 'A' && c <= 'F'))) {
                return 0;
            }
        }
        p = host_end + 1;
    }
    else {
        for (host_end = host; is_host_byte((unsigned char)*host_end); host_end++) {
        }
        p = host_end;
    }
    n = (size_t)(host_end - host);
    if (n == 0 || n >= ORIGO_HOST_MAX) {
        return 0;
    }
    if (*p == ':') {
        if (!read_decimal(p + 1, &p, &port) || port == 0 || port > 65535) {
            return 0;
        }
    }
    /* After the authority: the end, or a path, query or fragment (never user info: '@'). */
    if (*p != '\0' && *p != '/' && *p != '?' && *p != '#') {
        return 0;
    }
    for (i = 0; i < n; i++) {
        char c = host[i];
        out->host[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    out->host[n] = '\0';
    out->port = port != 0 ? (unsigned)port : (out->https ? 443u : 80u);
    return 1;
}

int origo_origin_equal(const origo_origin *a, const origo_origin *b)
{
    return a->https == b->https && a->port == b->port && strcmp(a->host, b->host) == 0;
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

size_t origo_url_escape_unsafe(const char *url, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)url;
    size_t n = 0;

    if (cap == 0) {
        return 0;
    }
    for (; *s != '\0'; s++) {
        unsigned char c = *s;
        int escape = c <= 0x20 || c >= 0x7F || strchr("<>\"\\^`{|}", c) != NULL
                     || (c == '%' && !(is_hex(s[1]) && is_hex(s[2])));
        size_t need = escape ? 3 : 1;
        if (cap - n <= need) {      /* keep room for the terminating NUL */
            return 0;
        }
        if (escape) {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
        else {
            out[n++] = (char)c;
        }
    }
    out[n] = '\0';
    return n;
}

int origo_cdn_loop_count(const char *value, const char *token)
{
    size_t tlen = strlen(token);
    int count = 0;

    while (value != NULL && *value != '\0') {
        const char *start, *end;
        while (*value == ' ' || *value == '\t' || *value == ',') {
            value++;
        }
        start = value;
        while (*value != '\0' && *value != ',' && *value != ';' && *value != ' ' && *value != '\t') {
            value++;
        }
        end = value;
        if ((size_t)(end - start) == tlen && tlen > 0 && strncasecmp(start, token, tlen) == 0) {
            count++;
        }
        while (*value != '\0' && *value != ',') {   /* parameters of this element */
            value++;
        }
    }
    return count;
}

int origo_next_header(const char **cursor, const char **name, size_t *name_len, const char **value,
                      size_t *value_len)
{
    while (*cursor != NULL && **cursor != '\0') {
        const char *line = *cursor;
        const char *end = strchr(line, '\n');
        size_t length = end != NULL ? (size_t)(end - line) : strlen(line);
        const char *colon = memchr(line, ':', length);

        *cursor = end != NULL ? end + 1 : line + length;
        if (colon != NULL && colon > line) {
            const char *v = colon + 1;
            while (v < line + length && *v == ' ') {
                v++;
            }
            *name = line;
            *name_len = (size_t)(colon - line);
            *value = v;
            *value_len = (size_t)(line + length - v);
            return 1;
        }
    }
    return 0;
}
