/*
 * AWS Signature Version 4 for S3 GET requests: canonical request, string to sign, signature.
 * See origo_s3.h. Only libc and libcrypto; key material is wiped after use.
 */
#include "origo_s3.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SHA256_LEN 32

/* ------------------------------------------------------------------ a growable string */

typedef struct sbuf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 256;
        char *grown;
        while (cap < b->len + n + 1) {
            if (cap > ((size_t)-1) / 2) {
                b->failed = 1;
                return;
            }
            cap *= 2;
        }
        grown = realloc(b->data, cap);
        if (grown == NULL) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    if (n > 0) {
        memcpy(b->data + b->len, s, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_char(sbuf *b, char c)
{
    sb_put(b, &c, 1);
}

/* The string (malloc'd, owned by the caller), or NULL when anything failed. */
static char *sb_take(sbuf *b)
{
    if (b->failed || b->data == NULL) {
        free(b->data);
        b->data = NULL;
        if (!b->failed) {
            return strdup("");
        }
        return NULL;
    }
    return b->data;
}

static void sb_drop(sbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------------ encoding */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* AWS URI encoding: unreserved characters (A-Z a-z 0-9 - . _ ~) as they are, every other byte
   as %XX with upper-case hex; '/' kept only when keep_slash. */
static void sb_uri_encode(sbuf *b, const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
            sb_char(b, (char)c);
        }
        else {
            char esc[3] = { '%', hex[c >> 4], hex[c & 15] };
            sb_put(b, esc, 3);
        }
    }
}

/* Appends the AWS encoding of the percent-decoded form of s[0..n) (a '%' not followed by two hex
   digits stays a literal '%'). Decoding first is what makes the result canonical whatever
   escaping the wire form used. */
static void sb_canonical(sbuf *b, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && n - i >= 3 && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            c = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        }
        sb_uri_encode(b, &c, 1, 0);
    }
}

static void hex_encode(const unsigned char *bytes, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ------------------------------------------------------------------ crypto */

static int sha256_hex(const char *data, size_t n, char out[2 * SHA256_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;

    if (EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) != 1 || len != SHA256_LEN) {
        return 0;
    }
    hex_encode(md, SHA256_LEN, out);
    return 1;
}

static int hmac256(const unsigned char *key, size_t key_len, const char *data, size_t n,
                   unsigned char out[SHA256_LEN])
{
    unsigned int len = 0;

    if (key_len > 0x7fffffff
        || HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)data, n, out, &len) == NULL
        || len != SHA256_LEN) {
        return 0;
    }
    return 1;
}

/* The signing key: HMAC chain over date, region, service and "aws4_request". */
static int signing_key(const char *secret, const char *date, const char *region, const char *service,
                       unsigned char key[SHA256_LEN])
{
    size_t slen = strlen(secret);
    unsigned char *k0 = malloc(slen + 4);
    unsigned char k1[SHA256_LEN], k2[SHA256_LEN], k3[SHA256_LEN];
    int ok;

    if (k0 == NULL) {
        return 0;
    }
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, slen);
    ok = hmac256(k0, slen + 4, date, strlen(date), k1)
        && hmac256(k1, SHA256_LEN, region, strlen(region), k2)
        && hmac256(k2, SHA256_LEN, service, strlen(service), k3)
        && hmac256(k3, SHA256_LEN, "aws4_request", 12, key);
    OPENSSL_cleanse(k0, slen + 4);
    OPENSSL_cleanse(k1, sizeof(k1));
    OPENSSL_cleanse(k2, sizeof(k2));
    OPENSSL_cleanse(k3, sizeof(k3));
    free(k0);
    return ok;
}

/* ------------------------------------------------------------------ URL pieces */

typedef struct url_parts {
    int https;
    const char *authority; size_t authority_len;
    const char *path; size_t path_len;          /* "" when the URL has no path */
    const char *query; size_t query_len;        /* without '?'; NULL when absent */
    size_t base_len;                            /* URL length without the fragment */
} url_parts;

static int split_url(const char *url, url_parts *u)
{
    const char *p, *end, *close;
    size_t i;

    memset(u, 0, sizeof(*u));
    if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
    }
    else if (strncasecmp(url, "https://", 8) == 0) {
        p = url + 8;
        u->https = 1;
    }
    else {
        return 0;
    }
    u->authority = p;
    u->authority_len = strcspn(p, "/?#");
    if (u->authority_len == 0) {
        return 0;
    }
    /* The authority is copied as it is into the signed URL: visible ASCII only, no user info, a
       host before any ":port", and an IPv6 literal closed by ']' with nothing but ":port" after it
       (else the Host made from it would not name what the URL names). */
    if (p[0] == ':' || strncmp(p, "[]", 2) == 0) {
        return 0;
    }
    for (i = 0; i < u->authority_len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7F || c == '@') {
            return 0;
        }
    }
    if (p[0] == '[') {
        close = memchr(p, ']', u->authority_len);
        if (close == NULL || (close + 1 < p + u->authority_len && close[1] != ':')) {
            return 0;
        }
    }
    p += u->authority_len;
    u->path = p;
    u->path_len = strcspn(p, "?#");
    p += u->path_len;
    if (*p == '?') {
        u->query = p + 1;
        u->query_len = strcspn(p + 1, "#");
        p += 1 + u->query_len;
    }
    end = p;
    u->base_len = (size_t)(end - url);
    return 1;
}

/* The Host header for the URL: lower-case host, ":port" only when not the scheme's default. */
static char *default_host(const url_parts *u)
{
    const char *a = u->authority;
    size_t n = u->authority_len, host_len = n, i;
    const char *port = NULL;
    sbuf b = { 0 };

    if (a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (close == NULL) {
            return NULL;
        }
        host_len = (size_t)(close - a) + 1;
    }
    else {
        const char *colon = memchr(a, ':', n);
        if (colon != NULL) {
            host_len = (size_t)(colon - a);
        }
    }
    if (host_len < n && a[host_len] == ':' && host_len + 1 < n) {
        port = a + host_len + 1;
    }
    for (i = 0; i < host_len; i++) {
        char c = a[i];
        sb_char(&b, (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c);
    }
    if (port != NULL) {
        size_t plen = n - host_len - 1;
        const char *dflt = u->https ? "443" : "80";
        if (!(plen == strlen(dflt) && memcmp(port, dflt, plen) == 0)) {
            sb_char(&b, ':');
            sb_put(&b, port, plen);
        }
    }
    return sb_take(&b);
}

/* ------------------------------------------------------------------ canonical parts */

static void canonical_uri(sbuf *b, const url_parts *u)
{
    const char *p = u->path, *end = u->path + u->path_len;

    if (u->path_len == 0) {
        sb_char(b, '/');
        return;
    }
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = slash != NULL ? (size_t)(slash - p) : (size_t)(end - p);
        sb_canonical(b, p, n);
        if (slash == NULL) {
            break;
        }
        sb_char(b, '/');
        p = slash + 1;
    }
}

/* Orders canonical "name=value" items by name, then by value (an encoded name has no '='). */
static int compare_query_items(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t xn = strcspn(x, "="), yn = strcspn(y, "=");
    int c = memcmp(x, y, xn < yn ? xn : yn);

    if (c != 0) {
        return c;
    }
    if (xn != yn) {
        return xn < yn ? -1 : 1;
    }
    return strcmp(x + xn, y + yn);
}

/*
 * Canonical query: every "name=value" of the URL's query plus `extra` (already canonical
 * "name=value" strings), each side decoded and AWS-encoded, sorted by byte value.
 */
static int canonical_query(sbuf *out, const url_parts *u, char *const *extra, size_t extra_count)
{
    size_t count = extra_count, i, n = 0;
    char **items;
    const char *p, *end;

    if (u->query != NULL) {
        for (i = 0; i < u->query_len; i++) {
            count += u->query[i] == '&';
        }
        count++;
    }
    items = calloc(count > 0 ? count : 1, sizeof(*items));
    if (items == NULL) {
        return 0;
    }
    if (u->query != NULL) {
        p = u->query;
        end = u->query + u->query_len;
        while (p <= end) {
            const char *amp = memchr(p, '&', (size_t)(end - p));
            size_t len = amp != NULL ? (size_t)(amp - p) : (size_t)(end - p);
            if (len > 0) {
                const char *eq = memchr(p, '=', len);
                size_t name_len = eq != NULL ? (size_t)(eq - p) : len;
                sbuf item = { 0 };
                sb_canonical(&item, p, name_len);
                sb_char(&item, '=');
                if (eq != NULL) {
                    sb_canonical(&item, eq + 1, len - name_len - 1);
                }
                items[n] = sb_take(&item);
                if (items[n] == NULL) {
                    goto fail;
                }
                n++;
            }
            if (amp == NULL) {
                break;
            }
            p = amp + 1;
        }
    }
    for (i = 0; i < extra_count; i++) {
        items[n] = strdup(extra[i]);
        if (items[n] == NULL) {
            goto fail;
        }
        n++;
    }
    qsort(items, n, sizeof(*items), compare_query_items);
    for (i = 0; i < n; i++) {
        if (i > 0) {
            sb_char(out, '&');
        }
        sb_str(out, items[i]);
        free(items[i]);
    }
    free(items);
    return !out->failed;
fail:
    for (i = 0; i < n; i++) {
        free(items[i]);
    }
    free(items);
    return 0;
}

/* One canonical header: lower-case name, value with outer blanks trimmed and inner runs of
   blanks folded to one space. */
typedef struct canon_header {
    char *name;
    char *value;
} canon_header;

static int has_control(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return 1;
        }
    }
    return 0;
}

static int make_header(canon_header *h, const char *name, const char *value)
{
    sbuf n = { 0 }, v = { 0 };
    const char *s;
    int pending_space = 0;

    if (*name == '\0' || has_control(name) || has_control(value)) {
        return 0;
    }
    for (s = name; *s != '\0'; s++) {
        char c = *s;
        sb_char(&n, (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c);
    }
    for (s = value; *s == ' ' || *s == '\t'; s++) {
    }
    for (; *s != '\0'; s++) {
        if (*s == ' ' || *s == '\t') {
            pending_space = 1;
            continue;
        }
        if (pending_space) {
            sb_char(&v, ' ');
            pending_space = 0;
        }
        sb_char(&v, *s);
    }
    h->name = sb_take(&n);
    h->value = sb_take(&v);
    return h->name != NULL && h->value != NULL;
}

static int compare_headers(const void *a, const void *b)
{
    return strcmp(((const canon_header *)a)->name, ((const canon_header *)b)->name);
}

static void free_headers(canon_header *h, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

/* ------------------------------------------------------------------ signing */

static int valid_credentials(const origo_s3_credentials *cred)
{
    return cred != NULL && cred->access_key != NULL && *cred->access_key != '\0'
        && cred->secret_key != NULL && *cred->secret_key != '\0'
        && cred->region != NULL && *cred->region != '\0'
        && strchr(cred->access_key, '/') == NULL && strchr(cred->region, '/') == NULL
        && !has_control(cred->access_key) && !has_control(cred->region)
        && (cred->security_token == NULL || !has_control(cred->security_token))
        && (cred->service == NULL || (*cred->service != '\0' && strchr(cred->service, '/') == NULL));
}

int origo_s3_fingerprint(const char *secret, char out[17])
{
    static const char prefix[] = "origo-s3-scope\n";
    char hex[2 * SHA256_LEN + 1];
    sbuf b = { 0 };
    int ok;

    out[0] = '\0';
    sb_str(&b, prefix);
    sb_str(&b, secret != NULL ? secret : "");
    if (b.failed) {
        sb_drop(&b);
        return 0;
    }
    ok = sha256_hex(b.data, b.len, hex);
    OPENSSL_cleanse(b.data, b.len);
    sb_drop(&b);
    if (!ok) {
        return 0;
    }
    memcpy(out, hex, 16);
    out[16] = '\0';
    return 1;
}

void origo_s3_signed_free(origo_s3_signed *s)
{
    if (s == NULL) {
        return;
    }
    free(s->authorization);
    free(s->url);
    free(s->canonical_request);
    free(s->string_to_sign);
    s->authorization = s->url = s->canonical_request = s->string_to_sign = NULL;
}

int origo_s3_sign(const origo_s3_credentials *cred, const origo_s3_request *req, origo_s3_signed *out)
{
    const char *service, *token, *payload;
    char date[9], scope_hash[2 * SHA256_LEN + 1], expires[24];
    char *host = NULL, *scope = NULL, *credential = NULL, *signed_headers = NULL;
    char *path = NULL, *query = NULL;
    char *extra_query[6];
    size_t extra_count = 0, header_count = 0, i;
    canon_header *headers = NULL;
    unsigned char key[SHA256_LEN], sig[SHA256_LEN];
    struct tm tm;
    url_parts u;
    sbuf b = { 0 };
    int rc = ORIGO_S3_NO_MEMORY;

    if (out == NULL) {
        return ORIGO_S3_BAD_INPUT;
    }
    memset(out, 0, sizeof(*out));
    if (!valid_credentials(cred) || req == NULL || req->method == NULL || *req->method == '\0'
        || has_control(req->method) || req->url == NULL || !split_url(req->url, &u)
        || (req->header_count > 0 && req->headers == NULL)
        || (req->mode == ORIGO_S3_QUERY && (req->expires < 1 || req->expires > 604800))
        || (req->mode != ORIGO_S3_QUERY && req->mode != ORIGO_S3_HEADERS)
        || (req->payload_hash != NULL && has_control(req->payload_hash))
        || gmtime_r(&req->when, &tm) == NULL
        || strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16) {
        memset(out, 0, sizeof(*out));
        return ORIGO_S3_BAD_INPUT;
    }
    memcpy(date, out->amz_date, 8);
    date[8] = '\0';
    service = cred->service != NULL ? cred->service : "s3";
    token = cred->security_token != NULL && *cred->security_token != '\0' ? cred->security_token : NULL;
    payload = req->mode == ORIGO_S3_QUERY ? ORIGO_S3_UNSIGNED_PAYLOAD
            : req->payload_hash != NULL ? req->payload_hash : ORIGO_S3_UNSIGNED_PAYLOAD;
    out->payload_hash = payload;
    memset(extra_query, 0, sizeof(extra_query));

    host = req->host != NULL ? strdup(req->host) : default_host(&u);
    if (host == NULL) {
        goto done;
    }
    if (*host == '\0' || has_control(host)) {
        rc = ORIGO_S3_BAD_INPUT;
        goto done;
    }

    /* Credential scope and the headers that are signed. */
    sb_str(&b, date); sb_char(&b, '/'); sb_str(&b, cred->region); sb_char(&b, '/');
    sb_str(&b, service); sb_str(&b, "/aws4_request");
    if ((scope = sb_take(&b)) == NULL) {
        goto done;
    }
    memset(&b, 0, sizeof(b));
    sb_str(&b, cred->access_key); sb_char(&b, '/'); sb_str(&b, scope);
    if ((credential = sb_take(&b)) == NULL) {
        goto done;
    }
    memset(&b, 0, sizeof(b));

    headers = calloc(req->header_count + 4, sizeof(*headers));
    if (headers == NULL) {
        goto done;
    }
    rc = ORIGO_S3_BAD_INPUT;
    if (!make_header(&headers[header_count++], "host", host)) {
        goto done;
    }
    if (req->mode == ORIGO_S3_HEADERS) {
        if (!make_header(&headers[header_count++], "x-amz-content-sha256", payload)
            || !make_header(&headers[header_count++], "x-amz-date", out->amz_date)
            || (token != NULL && !make_header(&headers[header_count++], "x-amz-security-token", token))) {
            goto done;
        }
    }
    for (i = 0; i < req->header_count; i++) {
        if (req->headers[i].name == NULL || req->headers[i].value == NULL
            || !make_header(&headers[header_count++], req->headers[i].name, req->headers[i].value)) {
            goto done;
        }
    }
    qsort(headers, header_count, sizeof(*headers), compare_headers);
    for (i = 1; i < header_count; i++) {
        if (strcmp(headers[i - 1].name, headers[i].name) == 0) {
            goto done;  /* a header given twice (or one we set ourselves) */
        }
    }
    rc = ORIGO_S3_NO_MEMORY;
    for (i = 0; i < header_count; i++) {
        if (i > 0) {
            sb_char(&b, ';');
        }
        sb_str(&b, headers[i].name);
    }
    if ((signed_headers = sb_take(&b)) == NULL) {
        goto done;
    }
    memset(&b, 0, sizeof(b));

    /* Query signing: the X-Amz-* parameters are part of the canonical query. */
    if (req->mode == ORIGO_S3_QUERY) {
        const char *names[] = { "X-Amz-Algorithm=", "X-Amz-Credential=", "X-Amz-Date=",
                                "X-Amz-Expires=", "X-Amz-SignedHeaders=", "X-Amz-Security-Token=" };
        const char *values[6];
        snprintf(expires, sizeof(expires), "%lu", req->expires);
        values[0] = "AWS4-HMAC-SHA256";
        values[1] = credential;
        values[2] = out->amz_date;
        values[3] = expires;
        values[4] = signed_headers;
        values[5] = token;
        for (i = 0; i < 6; i++) {
            if (values[i] == NULL) {
                continue;
            }
            memset(&b, 0, sizeof(b));
            sb_str(&b, names[i]);
            sb_uri_encode(&b, values[i], strlen(values[i]), 0);
            if ((extra_query[extra_count] = sb_take(&b)) == NULL) {
                goto done;
            }
            extra_count++;
        }
        memset(&b, 0, sizeof(b));
    }

    /* Stage 1: the canonical request. */
    canonical_uri(&b, &u);
    if ((path = sb_take(&b)) == NULL) {
        goto done;
    }
    memset(&b, 0, sizeof(b));
    if (!canonical_query(&b, &u, extra_query, extra_count) || (query = sb_take(&b)) == NULL) {
        goto done;
    }
    memset(&b, 0, sizeof(b));
    sb_str(&b, req->method); sb_char(&b, '\n');
    sb_str(&b, path); sb_char(&b, '\n');
    sb_str(&b, query); sb_char(&b, '\n');
    for (i = 0; i < header_count; i++) {
        sb_str(&b, headers[i].name); sb_char(&b, ':'); sb_str(&b, headers[i].value); sb_char(&b, '\n');
    }
    sb_char(&b, '\n');
    sb_str(&b, signed_headers); sb_char(&b, '\n');
    sb_str(&b, payload);
    if ((out->canonical_request = sb_take(&b)) == NULL) {
        goto done;
    }
    memset(&b, 0, sizeof(b));

    /* Stage 2: the string to sign. */
    if (!sha256_hex(out->canonical_request, strlen(out->canonical_request), scope_hash)) {
        goto done;
    }
    sb_str(&b, "AWS4-HMAC-SHA256\n"); sb_str(&b, out->amz_date); sb_char(&b, '\n');
    sb_str(&b, scope); sb_char(&b, '\n'); sb_str(&b, scope_hash);
    if ((out->string_to_sign = sb_take(&b)) == NULL) {
        goto done;
    }
    memset(&b, 0, sizeof(b));

    /* Stage 3: the signature. */
    if (!signing_key(cred->secret_key, date, cred->region, service, key)) {
        goto done;
    }
    i = hmac256(key, sizeof(key), out->string_to_sign, strlen(out->string_to_sign), sig);
    OPENSSL_cleanse(key, sizeof(key));
    if (!i) {
        goto done;
    }
    hex_encode(sig, SHA256_LEN, out->signature);

    /* What goes on the wire: the canonical path and query themselves, so that a server that
       checks against the raw request line (rather than decoding and re-encoding) agrees too. */
    sb_put(&b, req->url, (size_t)(u.authority + u.authority_len - req->url));
    sb_str(&b, path);
    if (*query != '\0') {
        sb_char(&b, '?');
        sb_str(&b, query);
    }
    if (req->mode == ORIGO_S3_QUERY) {
        sb_str(&b, "&X-Amz-Signature=");
        sb_str(&b, out->signature);
    }
    else {
        sbuf a = { 0 };
        sb_str(&a, "AWS4-HMAC-SHA256 Credential="); sb_str(&a, credential);
        sb_str(&a, ",SignedHeaders="); sb_str(&a, signed_headers);
        sb_str(&a, ",Signature="); sb_str(&a, out->signature);
        if ((out->authorization = sb_take(&a)) == NULL) {
            goto done;
        }
    }
    if ((out->url = sb_take(&b)) == NULL) {
        goto done;
    }
    memset(&b, 0, sizeof(b));
    rc = ORIGO_S3_OK;

done:
    sb_drop(&b);
    if (headers != NULL) {
        free_headers(headers, header_count);
    }
    for (i = 0; i < extra_count; i++) {
        free(extra_query[i]);
    }
    free(host);
    free(path);
    free(query);
    free(scope);
    free(credential);
    free(signed_headers);
    if (rc != ORIGO_S3_OK) {
        origo_s3_signed_free(out);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}
