/*
 * Upstream reads as Apache subrequests through mod_proxy (UspEnableSubreq), and the IsmProxyPass
 * path mapping.
 *
 * One fetch: a GET subrequest for the main request's own URI (so its <Location> access rules
 * apply), turned into a reverse-proxy request for the upstream URL (filename "proxy:<url>",
 * handler "proxy-server"). Inherited Range, If-* and Accept-Encoding headers are removed and our
 * own Range set. The body is collected by a private capture filter given to the subrequest as its
 * next filter (added to the main request only for the duration of the fetch, with a type above
 * AP_FTYPE_CONTENT_SET so that mod_cache's filters run before it); it passes nothing on. Both the
 * return value of ap_run_sub_req and the subrequest's status are checked.
 *
 * Connection reuse: mod_proxy_http closes the backend connection after every subrequest unless
 * the subrequest has a kept_body. An empty kept_body allocated from the main request's pool
 * (a subrequest pool crashed children) keeps the pooled connection open; the integration tests
 * count upstream connections to guard this reliance on httpd internals.
 */
#include "origo_upstream.h"

#include "apr_date.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_uri.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "origo_bridge.h"
#include "origo_http.h"
#include "origo_s3_apache.h"

APLOG_USE_MODULE(origo);

/* Largest body of a fetch without a length (a server manifest, or a whole 200 object). */
#define ORIGO_MAX_WHOLE_BODY (APR_UINT64_C(64) << 20)

static ap_filter_rec_t *capture_filter_handle;

/* The state of one fetch, shared with the capture filter. */
typedef struct capture {
    request_rec *sub;
    apr_uint64_t want_offset;
    apr_uint64_t want_length;   /* 0: to the end */
    int ranged;                 /* a Range header was sent */
    int decided;                /* the first body bucket has been seen */
    int keep;                   /* store the body (a 2xx answer) */
    int sliced;                 /* a 200 to a ranged request: keep only the wanted bytes */
    int failed;                 /* an error bucket arrived (backend reset mid-body) */
    int overflow;               /* more body than allowed */
    apr_uint64_t seen;          /* body bytes seen */
    origo_body_buffer body;     /* the engine takes body.data */
} capture;

int origo_body_append(origo_body_buffer *b, const char *bytes, apr_size_t n)
{
    if (n == 0) {
        return 1;
    }
    if ((apr_uint64_t)b->len + n > b->max) {
        return 0;
    }
    if (b->len + n > b->cap) {
        apr_size_t cap = b->cap > 0 ? b->cap : 64 * 1024;
        unsigned char *grown;
        while (cap < b->len + n) {
            cap *= 2;
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

static int append(capture *c, const char *bytes, apr_size_t n)
{
    if (!origo_body_append(&c->body, bytes, n)) {
        c->overflow = 1;
        return 0;
    }
    return 1;
}

static apr_status_t capture_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    capture *c = f->ctx;
    apr_bucket *b;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
        const char *bytes;
        apr_size_t n;

        if (AP_BUCKET_IS_ERROR(b)) {
            c->failed = 1;
            continue;
        }
        if (APR_BUCKET_IS_METADATA(b)) {
            continue;
        }
        if (apr_bucket_read(b, &bytes, &n, APR_BLOCK_READ) != APR_SUCCESS) {
            c->failed = 1;
            break;
        }
        if (!c->decided) {
            c->decided = 1;
            c->keep = c->sub->status == HTTP_OK || c->sub->status == HTTP_PARTIAL_CONTENT;
            c->sliced = c->keep && c->ranged && c->sub->status == HTTP_OK;
        }
        if (c->keep && !c->overflow) {
            if (c->sliced) {
                /* Object bytes [seen, seen + n) intersected with the wanted range. */
                apr_uint64_t start = c->seen, end = c->seen + n;
                apr_uint64_t want_end = c->want_length > 0 ? c->want_offset + c->want_length : (apr_uint64_t)-1;
                apr_uint64_t lo = start > c->want_offset ? start : c->want_offset;
                apr_uint64_t hi = end < want_end ? end : want_end;
                if (lo < hi) {
                    append(c, bytes + (lo - start), (apr_size_t)(hi - lo));
                }
            }
            else {
                append(c, bytes, n);
            }
        }
        c->seen += n;
    }
    apr_brigade_cleanup(bb);
    return APR_SUCCESS;
}

void origo_upstream_register(apr_pool_t *p)
{
    (void)p;
    capture_filter_handle = ap_register_output_filter("ORIGO_UPSTREAM_CAPTURE", capture_filter, NULL,
                                                      AP_FTYPE_CONTENT_SET + 5);
}

/* The fetch context: the main request and its configuration. */
typedef struct fetch_ctx {
    request_rec *r;
    const origo_dir_config *conf;
    const char *own_host;       /* IsmProxyPass's host[:port], lower case, or NULL */
} fetch_ctx;

static char *dup_error(const char *text)
{
    return strdup(text != NULL ? text : "upstream fetch failed");
}

static int fail(origo_fetch_result *out, int status, const char *text)
{
    out->error = dup_error(text);
    return status;
}

int origo_parse_content_range(const char *value, apr_uint64_t *start, apr_uint64_t *last, apr_uint64_t *total)
{
    char *end;
    apr_int64_t a, b, t = 0;

    if (value == NULL || strncasecmp(value, "bytes ", 6) != 0) {
        return 0;
    }
    value += 6;
    a = apr_strtoi64(value, &end, 10);
    if (end == value || *end != '-' || a < 0) {
        return 0;
    }
    value = end + 1;
    b = apr_strtoi64(value, &end, 10);
    if (end == value || *end != '/' || b < a) {
        return 0;
    }
    value = end + 1;
    if (*value != '*') {
        t = apr_strtoi64(value, &end, 10);
        if (end == value || t <= b) {
            return 0;
        }
    }
    *start = (apr_uint64_t)a;
    *last = (apr_uint64_t)b;
    *total = (apr_uint64_t)t;
    return 1;
}

static int host_allowed(fetch_ctx *ctx, const apr_uri_t *uri)
{
    char *host = apr_pstrdup(ctx->r->pool, uri->hostname);
    char *hostport;

    ap_str_tolower(host);
    hostport = apr_psprintf(ctx->r->pool, "%s:%u", host,
                            uri->port ? uri->port : apr_uri_port_of_scheme(uri->scheme));
    if (ctx->own_host != NULL && (strcmp(ctx->own_host, host) == 0 || strcmp(ctx->own_host, hostport) == 0)) {
        return 1;
    }
    return origo_config_allows_host(ctx->conf, host, hostport);
}

static void remove_inherited_headers(apr_table_t *headers)
{
    static const char *const names[] = {
        "Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
        "Accept-Encoding", "Content-Length", "Content-Type", "Transfer-Encoding", "Expect", NULL
    };
    const char *const *name;
    for (name = names; *name != NULL; name++) {
        apr_table_unset(headers, *name);
    }
}

static int fetch_subrequest(void *ctx_, const char *url, uint64_t offset, uint64_t length,
                            origo_fetch_result *out)
{
    fetch_ctx *ctx = ctx_;
    request_rec *r = ctx->r;
    apr_uri_t uri;
    capture c;
    ap_filter_t *f;
    request_rec *sub;
    const char *value;
    const origo_dir_config *s3;
    int rc, status;
    apr_uint64_t total = 0;

    if (url == NULL || apr_uri_parse(r->pool, url, &uri) != APR_SUCCESS || uri.scheme == NULL
        || uri.hostname == NULL || *uri.hostname == '\0'
        || (strcasecmp(uri.scheme, "http") != 0 && strcasecmp(uri.scheme, "https") != 0)) {
        return fail(out, HTTP_BAD_GATEWAY, "not an http(s) URL");
    }
    if (!host_allowed(ctx, &uri)) {
        return fail(out, HTTP_FORBIDDEN, apr_psprintf(r->pool, "host %s is not allowed "
                    "(IsmProxyPass host or OrigoProxyAllowHost)", uri.hostname));
    }

    memset(&c, 0, sizeof(c));
    c.want_offset = offset;
    c.want_length = length;
    c.ranged = offset > 0 || length > 0;
    c.body.max = length > 0 ? length : ORIGO_MAX_WHOLE_BODY;

    f = ap_add_output_filter_handle(capture_filter_handle, &c, r, r->connection);
    if (f == NULL) {
        return fail(out, HTTP_BAD_GATEWAY, "cannot add the capture filter");
    }
    sub = ap_sub_req_method_uri("GET", ap_escape_uri(r->pool, r->uri), r, f);
    if (sub == NULL || sub->status != HTTP_OK) {
        status = sub != NULL ? sub->status : HTTP_INTERNAL_SERVER_ERROR;
        if (sub != NULL) {
            ap_destroy_sub_req(sub);
        }
        ap_remove_output_filter(f);
        free(c.body.data);
        return fail(out, HTTP_BAD_GATEWAY, apr_psprintf(r->pool, "subrequest lookup failed with %d", status));
    }
    c.sub = sub;
    sub->filename = apr_pstrcat(sub->pool, "proxy:", url, NULL);
    sub->handler = "proxy-server";
    sub->proxyreq = PROXYREQ_REVERSE;
    sub->args = NULL;
    sub->kept_body = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    remove_inherited_headers(sub->headers_in);
    if (c.ranged) {
        apr_table_setn(sub->headers_in, "Range", length > 0
            ? apr_psprintf(r->pool, "bytes=%" APR_UINT64_T_FMT "-%" APR_UINT64_T_FMT, offset, offset + length - 1)
            : apr_psprintf(r->pool, "bytes=%" APR_UINT64_T_FMT "-", offset));
    }
    s3 = origo_s3_config_for_url(r, ctx->conf, url);
    if (origo_s3_enabled(s3)) {
        const char *wire = url;
        const char *error = origo_s3_sign_proxy_request(sub, s3, url, &wire);
        if (error != NULL) {
            ap_destroy_sub_req(sub);
            ap_remove_output_filter(f);
            free(c.body.data);
            return fail(out, HTTP_INTERNAL_SERVER_ERROR, error);
        }
        sub->filename = apr_pstrcat(sub->pool, "proxy:", wire, NULL);
    }

    rc = ap_run_sub_req(sub);
    status = sub->status;

    if (rc != OK && rc != DONE) {
        /* mod_proxy_http answers a read timeout with 502 but leaves this note (as for failontimeout). */
        int timed_out = rc == HTTP_GATEWAY_TIME_OUT || apr_table_get(sub->notes, "proxy_timedout") != NULL;
        ap_destroy_sub_req(sub);
        ap_remove_output_filter(f);
        free(c.body.data);
        return fail(out, timed_out ? HTTP_GATEWAY_TIME_OUT : HTTP_BAD_GATEWAY,
                    apr_psprintf(r->pool, "proxy subrequest returned %d (status %d)%s", rc, status,
                                 timed_out ? ", timed out" : ""));
    }
    if (c.failed || c.overflow) {
        ap_destroy_sub_req(sub);
        ap_remove_output_filter(f);
        free(c.body.data);
        return fail(out, HTTP_BAD_GATEWAY, c.failed ? "upstream body broke off" : "upstream body larger than asked for");
    }

    out->status = status;
    if (status == HTTP_PARTIAL_CONTENT) {
        apr_uint64_t start, last;
        if (!origo_parse_content_range(apr_table_get(sub->headers_out, "Content-Range"), &start, &last, &total)
            || c.body.len != last - start + 1) {
            ap_destroy_sub_req(sub);
            ap_remove_output_filter(f);
            free(c.body.data);
            return fail(out, HTTP_BAD_GATEWAY, "206 with a missing or inconsistent Content-Range");
        }
        out->data_offset = start;
    }
    else if (status == HTTP_OK) {
        value = apr_table_get(sub->headers_out, "Content-Length");
        if (value != NULL) {
            char *end;
            apr_int64_t cl = apr_strtoi64(value, &end, 10);
            if (end == value || *end != '\0' || cl < 0 || (apr_uint64_t)cl != c.seen) {
                ap_destroy_sub_req(sub);
                ap_remove_output_filter(f);
                free(c.body.data);
                return fail(out, HTTP_BAD_GATEWAY, "200 body shorter than its Content-Length");
            }
        }
        total = c.seen;
        out->data_offset = c.sliced ? offset : 0;
    }
    out->total_size = total;
    out->data = c.body.data;
    out->length = c.body.len;
    value = apr_table_get(sub->headers_out, "ETag");
    if (value != NULL) {
        out->etag = strdup(value);
    }
    value = apr_table_get(sub->headers_out, "Last-Modified");
    if (value != NULL) {
        apr_time_t t = apr_date_parse_http(value);
        out->last_modified = t > 0 ? (int64_t)apr_time_sec(t) : 0;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, ORIGO_LOGNO(10201)
                  "upstream %s (%" APR_UINT64_T_FMT "+%" APR_UINT64_T_FMT "): %d, %" APR_SIZE_T_FMT " bytes",
                  url, offset, length, status, c.body.len);
    ap_destroy_sub_req(sub);
    ap_remove_output_filter(f);
    return 0;
}

/*
 * UspEnableSubreq off: the built-in client with its own keep-alive pool (origo_http.c). It has
 * no TLS: https URLs still go through mod_proxy subrequests (which need SSLProxyEngine).
 */
static int fetch_builtin(void *ctx_, const char *url, uint64_t offset, uint64_t length,
                         origo_fetch_result *out)
{
    fetch_ctx *ctx = ctx_;
    apr_uri_t uri;

    if (url == NULL || apr_uri_parse(ctx->r->pool, url, &uri) != APR_SUCCESS || uri.scheme == NULL
        || uri.hostname == NULL || *uri.hostname == '\0'
        || (strcasecmp(uri.scheme, "http") != 0 && strcasecmp(uri.scheme, "https") != 0)) {
        return fail(out, HTTP_BAD_GATEWAY, "not an http(s) URL");
    }
    /* https needs TLS and S3 needs signing: both are done on the subrequest path. */
    if (strcasecmp(uri.scheme, "https") == 0
        || origo_s3_enabled(origo_s3_config_for_url(ctx->r, ctx->conf, url))) {
        return fetch_subrequest(ctx_, url, offset, length, out);
    }
    if (!host_allowed(ctx, &uri)) {
        return fail(out, HTTP_FORBIDDEN, apr_psprintf(ctx->r->pool, "host %s is not allowed "
                    "(IsmProxyPass host or OrigoProxyAllowHost)", uri.hostname));
    }
    return origo_http_fetch(ctx->r, url, offset, length, origo_config_upstream_timeout(ctx->conf), out);
}

/* The access policy as text: IsmProxyPass's URL, the S3 identity and the allowed hosts. */
static const char *scope_of(request_rec *r, const origo_dir_config *conf)
{
    const char *scope = conf->proxy_url != NULL ? conf->proxy_url : "";
    int i;

    /* Credentials are part of the access policy: no sharing between different S3 settings. */
    scope = apr_pstrcat(r->pool, scope, origo_s3_scope(r->pool, conf), NULL);

    if (conf->allow_hosts != NULL) {
        for (i = 0; i < conf->allow_hosts->nelts; i++) {
            scope = apr_pstrcat(r->pool, scope, " ", APR_ARRAY_IDX(conf->allow_hosts, i, const char *), NULL);
        }
    }
    return scope;
}

void origo_upstream_for_request(request_rec *r, const origo_dir_config *conf, origo_upstream *out)
{
    fetch_ctx *ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    apr_uri_t uri;

    ctx->r = r;
    ctx->conf = conf;
    if (conf->proxy_url != NULL && apr_uri_parse(r->pool, conf->proxy_url, &uri) == APR_SUCCESS
        && uri.hostname != NULL && *uri.hostname != '\0') {
        char *host = apr_pstrdup(r->pool, uri.port_str != NULL
                                 ? apr_pstrcat(r->pool, uri.hostname, ":", uri.port_str, NULL) : uri.hostname);
        ap_str_tolower(host);
        ctx->own_host = host;
    }
    out->ctx = ctx;
    out->fetch = conf->enable_subreq == 0 ? fetch_builtin : fetch_subrequest;
    out->scope = scope_of(r, conf);
}

/* Extensions that end the server manifest (or media file) part of a proxied path. */
static const char *const manifest_extensions[] = {
    ".ism", ".isml", ".smil", ".mp4", ".ismv", ".isma", ".cmfv", ".cmfa", ".m4v", ".m4a", NULL
};

/* Length of the manifest part of `rest` ("a/b/x.ism" of "a/b/x.ism/.m3u8"), or 0. */
static size_t manifest_boundary(const char *rest)
{
    const char *slash;

    for (slash = strchr(rest, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
        const char *const *ext;
        size_t at = (size_t)(slash - rest);
        for (ext = manifest_extensions; *ext != NULL; ext++) {
            size_t elen = strlen(*ext);
            if (at > elen && strncasecmp(slash - elen, *ext, elen) == 0 && slash[-(ptrdiff_t)elen - 1] != '/') {
                return at;
            }
        }
    }
    return 0;
}

int origo_upstream_map(request_rec *r, const origo_dir_config *conf, const char **manifest_url,
                       const char **virtual_path)
{
    const char *full = r->uri;
    const char *prefix = conf->proxy_prefix != NULL ? conf->proxy_prefix : "";
    size_t plen = strlen(prefix);
    const char *rest;
    size_t mlen;

    if (conf->proxy_prefix_is_dir) {
        full = apr_pstrcat(r->pool, r->filename != NULL ? r->filename : "",
                           r->path_info != NULL ? r->path_info : "", NULL);
    }
    while (plen > 0 && prefix[plen - 1] == '/') {
        plen--;
    }
    if (strncmp(full, prefix, plen) != 0 || (full[plen] != '/' && full[plen] != '\0')) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10202)
                      "%s is outside the IsmProxyPass prefix %s", full, prefix);
        return HTTP_NOT_FOUND;
    }
    rest = full + plen;
    while (*rest == '/') {
        rest++;
    }
    mlen = manifest_boundary(rest);
    if (mlen == 0) {
        return DECLINED;
    }
    *manifest_url = apr_pstrcat(r->pool, conf->proxy_url,
                                ap_escape_uri(r->pool, apr_pstrmemdup(r->pool, rest, mlen)), NULL);
    *virtual_path = rest + mlen + 1;
    return OK;
}
