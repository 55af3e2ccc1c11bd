/*
 * Upstream reads for the engine (IsmProxyPass, S3, re-streaming), and the IsmProxyPass path
 * mapping.
 *
 * Every read goes through one policy, whichever way it travels:
 * - it may reach only allowed origins (scheme, host and port compared exactly);
 * - it carries only what the origin decides: User-Agent "Origo/<version>", Range, CDN-Loop (the
 *   loop marker), S3 signing, and the client headers the operator names
 *   (OrigoUpstreamPassHeader); nothing else of the client's request;
 * - it ends by a deadline (OrigoUpstreamTimeout per read, OrigoUpstreamDeadline for all reads of
 *   one client request), when the client has gone, and once the wanted bytes have arrived: a 200
 *   answering a ranged read is cut at the range, a whole-object read is cut at
 *   ORIGO_MAX_WHOLE_BODY, a header block at ORIGO_MAX_HEADER_BYTES.
 *
 * With UspEnableSubreq on (the default) a read is a GET subrequest for the main request's own URI
 * (so its <Location> access rules apply), turned into a reverse-proxy request for the upstream URL
 * (filename "proxy:<url>", handler "proxy-server"), so <Proxy>/ProxySet pools, mod_cache,
 * balancers and SSLProxy* apply. Its headers are replaced by ours. The body is collected by a
 * private capture filter given to the subrequest as its next filter: a filter of its own, linked
 * to nothing of the main request, with a type above AP_FTYPE_CONTENT_SET so that mod_cache's
 * filters run before it; it passes nothing on, and refuses more once it has what it wants, which
 * makes mod_proxy close the backend connection. mod_cache sees each read under a URI of its own. A guard input filter on every backend connection
 * bounds what mod_proxy reads for us: it shortens the socket timeout to the deadline, counts the
 * header block and watches the client. Both the return of ap_run_sub_req and the subrequest's
 * status are checked. A read that got no byte back is tried once more (a kept-alive connection
 * the upstream closed meanwhile).
 *
 * Connection reuse: mod_proxy_http closes the backend connection after every subrequest unless
 * the subrequest has a kept_body. An empty kept_body allocated from the main request's pool
 * (a subrequest pool crashed children) keeps the pooled connection open; the integration tests
 * count upstream connections to guard this reliance on httpd internals.
 *
 * With UspEnableSubreq off a read is a libcurl transfer (origo_curl.c) under the same policy.
 */
#include "origo_upstream.h"

#include "apr_date.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_uri.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_proxy.h"
#include "util_filter.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "util_md5.h"

#include "origo_bridge.h"
#include "origo_curl.h"
#include "origo_metrics.h"
#include "origo_s3_apache.h"
#include "origo_url.h"

APLOG_USE_MODULE(origo);

/* Largest body of a read without a range (a server manifest, a sidecar subtitle file). */
#define ORIGO_MAX_WHOLE_BODY (APR_UINT64_C(16) << 20)
/* Largest response header block, and most header lines, of an upstream answer. */
#define ORIGO_MAX_HEADER_BYTES (64 * 1024)
#define ORIGO_MAX_HEADER_LINES 100
/* Error bodies are not kept; at most this much of one is read before the connection is closed. */
#define ORIGO_MAX_ERROR_BODY (APR_UINT64_C(64) << 10)
/* How often a read checks whether the client is still there. */
#define ORIGO_CLIENT_CHECK_INTERVAL apr_time_from_msec(200)

static ap_filter_rec_t *capture_filter_handle;
static ap_filter_rec_t *guard_filter_handle;

/* ------------------------------------------------------------------------------------------ */
/* The guard: what mod_proxy reads for one of our reads, on the backend connection.            */

typedef struct guard {
    apr_time_t deadline;
    conn_rec *client;
    apr_time_t next_client_check;
    int body_started;             /* the capture filter saw the answer's first body bytes */
    apr_uint64_t header_bytes;
    int header_lines;
    apr_uint64_t received;        /* bytes read from the backend for this read */
    const char *stopped;          /* why the guard ended the read, or NULL */
    int stop_status;              /* 504 (deadline) or 502 */
} guard;

/* The read running on this thread, if any: subrequests run synchronously on the caller's thread. */
static __thread guard *current_guard;

/* Whether the client of `c` has closed its connection (or it broke). */
static int client_gone(conn_rec *c)
{
    apr_socket_t *sock;
    apr_os_sock_t fd;
    struct pollfd pfd;
    char byte;

    /* An HTTP/2 stream reset marks its own connection; a closed socket shows on the master's. */
    for (;;) {
        if (c->aborted) {
            return 1;
        }
        if (c->master == NULL) {
            break;
        }
        c = c->master;
    }
    sock = ap_get_conn_socket(c);
    if (sock == NULL || apr_os_sock_get(&fd, sock) != APR_SUCCESS) {
        return 0;
    }
    pfd.fd = fd;
    pfd.events = POLLIN | POLLRDHUP;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) <= 0) {
        return 0;
    }
    if (pfd.revents & (POLLHUP | POLLERR | POLLRDHUP)) {
        return 1;
    }
    /* Readable: a pipelined request, or the end of the stream. */
    return (pfd.revents & POLLIN) && recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static apr_status_t guard_stop(guard *g, const char *why, int status)
{
    if (g->stopped == NULL) {
        g->stopped = why;
        g->stop_status = status;
    }
    return status == HTTP_GATEWAY_TIME_OUT ? APR_TIMEUP : APR_ECONNABORTED;
}

/* Whether the read must end now (deadline, client gone); sets g->stopped. */
static int guard_expired(guard *g)
{
    apr_time_t now = apr_time_now();

    if (now >= g->deadline) {
        guard_stop(g, "upstream read deadline passed", HTTP_GATEWAY_TIME_OUT);
        return 1;
    }
    if (now >= g->next_client_check) {
        g->next_client_check = now + ORIGO_CLIENT_CHECK_INTERVAL;
        if (client_gone(g->client)) {
            guard_stop(g, "client went away", HTTP_BAD_GATEWAY);
            return 1;
        }
    }
    return 0;
}

/* Waits until the backend socket is readable, the client check is due, or `until` passes. */
static void guard_wait(apr_socket_t *sock, apr_time_t until)
{
    apr_os_sock_t fd;
    struct pollfd pfd;
    apr_interval_time_t wait = until - apr_time_now();

    if (wait > ORIGO_CLIENT_CHECK_INTERVAL) {
        wait = ORIGO_CLIENT_CHECK_INTERVAL;
    }
    if (sock == NULL || apr_os_sock_get(&fd, sock) != APR_SUCCESS || wait <= 0) {
        return;
    }
    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    (void)poll(&pfd, 1, (int)apr_time_as_msec(wait) + 1);
}

/*
 * A blocking read below would wait for a whole line (the core reads until LF), or for as long as
 * the socket's timeout: a storage dripping one byte a second would hold it for ever, and a client
 * that left would go unnoticed. So every blocking read is made of non-blocking ones and waits on
 * the socket in short slices, checking the deadline and the client in between.
 */
static apr_status_t guard_filter(ap_filter_t *f, apr_bucket_brigade *bb, ap_input_mode_t mode,
                                 apr_read_type_e block, apr_off_t readbytes)
{
    guard *g = current_guard;
    apr_socket_t *sock;
    apr_interval_time_t idle = -1;
    apr_time_t idle_end;
    apr_status_t rv;
    apr_off_t n = 0;

    if (g == NULL || (mode != AP_MODE_GETLINE && mode != AP_MODE_READBYTES)) {
        return ap_get_brigade(f->next, bb, mode, block, readbytes);
    }
    /* The socket's own timeout (ProxyTimeout, ProxySet timeout=) still bounds waiting for a byte. */
    sock = ap_get_conn_socket(f->c);
    if (sock == NULL || apr_socket_timeout_get(sock, &idle) != APR_SUCCESS || idle <= 0) {
        idle = -1;
    }
    idle_end = idle > 0 ? apr_time_now() + idle : g->deadline;
    if (idle_end > g->deadline) {
        idle_end = g->deadline;
    }
    for (;;) {
        if (g->stopped != NULL || guard_expired(g)) {
            return guard_stop(g, g->stopped, g->stop_status);
        }
        if (apr_time_now() >= idle_end) {
            return APR_TIMEUP;      /* the socket timeout: mod_proxy reports it as usual */
        }
        rv = ap_get_brigade(f->next, bb, mode, APR_NONBLOCK_READ, readbytes);
        if (rv == APR_SUCCESS && !APR_BRIGADE_EMPTY(bb)) {
            break;
        }
        if (rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(rv)) {
            return rv;
        }
        apr_brigade_cleanup(bb);
        if (block == APR_NONBLOCK_READ) {
            return rv;
        }
        guard_wait(sock, idle_end);
    }
    if (apr_brigade_length(bb, 0, &n) == APR_SUCCESS && n > 0) {
        g->received += (apr_uint64_t)n;
        /* The status line and header fields are read line by line (the body is not, and the
           first body read may come before the capture filter has seen it). */
        if (!g->body_started && mode == AP_MODE_GETLINE) {
            apr_bucket *last = APR_BRIGADE_LAST(bb);
            const char *bytes;
            apr_size_t len;

            g->header_bytes += (apr_uint64_t)n;
            /* A line read in pieces counts once, at its end. */
            if (!APR_BUCKET_IS_METADATA(last) && apr_bucket_read(last, &bytes, &len, APR_NONBLOCK_READ) == APR_SUCCESS
                && len > 0 && bytes[len - 1] == '\n') {
                g->header_lines++;
            }
            if (g->header_bytes > ORIGO_MAX_HEADER_BYTES || g->header_lines > ORIGO_MAX_HEADER_LINES) {
                apr_brigade_cleanup(bb);
                return guard_stop(g, "upstream header block too large", HTTP_BAD_GATEWAY);
            }
        }
    }
    return APR_SUCCESS;
}

/* Backend connections of mod_proxy get the guard (it does nothing outside our reads). */
static int guard_pre_connection(conn_rec *c, void *csd)
{
    (void)csd;
    if (c->outgoing || current_guard != NULL) {
        ap_add_input_filter_handle(guard_filter_handle, NULL, NULL, c);
    }
    return OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The capture filter: the body of one subrequest read.                                         */

/* The state of one read, shared with the capture filter. */
typedef struct capture {
    request_rec *sub;
    guard *guard;
    apr_uint64_t want_offset;
    apr_uint64_t want_length;   /* 0: to the end */
    int ranged;                 /* a Range header was sent */
    int decided;                /* the first body bucket has been seen */
    int keep;                   /* store the body (a 2xx answer) */
    int sliced;                 /* a 200 to a ranged request: keep only the wanted bytes */
    int complete;               /* everything wanted arrived; the rest is refused */
    int failed;                 /* an error bucket arrived (backend reset mid-body) */
    int overflow;               /* more body than allowed */
    int ignored_range;          /* a 200 to a range that starts or ends beyond ORIGO_MAX_WHOLE_BODY */
    apr_uint64_t seen;          /* body bytes seen */
    origo_body_buffer body;     /* the engine takes body.data */
} capture;

/* Where the wanted bytes end in the object (UINT64_MAX: at its end). */
static apr_uint64_t wanted_end(const capture *c)
{
    return c->want_length > 0 ? c->want_offset + c->want_length : (apr_uint64_t)-1;
}

static void take(capture *c, const char *bytes, apr_size_t n)
{
    if (c->sliced) {
        /* Object bytes [seen, seen + n) intersected with the wanted range. */
        apr_uint64_t start = c->seen, end = c->seen + n;
        apr_uint64_t lo = start > c->want_offset ? start : c->want_offset;
        apr_uint64_t hi = end < wanted_end(c) ? end : wanted_end(c);
        if (lo < hi && !origo_body_append(&c->body, bytes + (lo - start), (size_t)(hi - lo))) {
            c->overflow = 1;
        }
        if (c->seen + n >= wanted_end(c)) {
            c->complete = 1;
        }
    }
    else if (!origo_body_append(&c->body, bytes, n)) {
        c->overflow = 1;
    }
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
        if (c->complete || c->overflow || c->ignored_range) {
            continue;
        }
        if (apr_bucket_read(b, &bytes, &n, APR_BLOCK_READ) != APR_SUCCESS) {
            c->failed = 1;
            break;
        }
        if (!c->decided) {
            c->decided = 1;
            c->guard->body_started = 1;
            c->keep = c->sub->status == HTTP_OK || c->sub->status == HTTP_PARTIAL_CONTENT;
            c->sliced = c->keep && c->ranged && c->sub->status == HTTP_OK;
            /* Slicing far into an object would read everything before the range: refused. */
            if (c->sliced && (c->want_length > 0 ? wanted_end(c) : c->want_offset) > ORIGO_MAX_WHOLE_BODY) {
                c->ignored_range = 1;
                continue;
            }
        }
        if (c->keep) {
            take(c, bytes, n);
        }
        else if (c->seen + n > ORIGO_MAX_ERROR_BODY) {
            c->complete = 1;    /* the status is all that counts */
        }
        c->seen += n;
    }
    apr_brigade_cleanup(bb);
    /* Refusing more makes mod_proxy stop reading and close the backend connection (the
       subrequest's own filter removes EOS before it reaches us). */
    return c->complete || c->overflow || c->ignored_range ? APR_EGENERAL : APR_SUCCESS;
}

void origo_upstream_register(apr_pool_t *p)
{
    (void)p;
    capture_filter_handle = ap_register_output_filter("ORIGO_UPSTREAM_CAPTURE", capture_filter, NULL,
                                                      AP_FTYPE_CONTENT_SET + 5);
    guard_filter_handle = ap_register_input_filter("ORIGO_UPSTREAM_GUARD", guard_filter, NULL,
                                                   AP_FTYPE_CONNECTION + 8);
    ap_hook_pre_connection(guard_pre_connection, NULL, NULL, APR_HOOK_LAST);
}

/* ------------------------------------------------------------------------------------------ */
/* One read, whichever way it travels.                                                          */

/* The fetch context: the main request, its configuration and what every read shares. */
typedef struct fetch_ctx {
    request_rec *r;
    const origo_dir_config *conf;
    origo_origin own;           /* IsmProxyPass's origin, when it names a host */
    int has_own;
    apr_time_t deadline;        /* all reads of this request end by then */
    const char *user_agent;
    const char *cdn_loop;       /* our CDN-Loop value: one "origo" per hop so far, this one too */
    const char *scope;          /* origo_upstream.scope */
} fetch_ctx;

/* One read as it will be sent. */
typedef struct read_plan {
    const char *url;            /* as sent: escaped, and signed in S3 query mode */
    const char *shown;          /* for the log: without query */
    apr_uint64_t offset, length;
    apr_time_t deadline;
    origo_origin origin;        /* of url */
    const origo_dir_config *s3; /* S3 settings when the read is signed, else NULL */
} read_plan;

static int fail(origo_fetch_result *out, int status, const char *text)
{
    out->error = strdup(text != NULL ? text : "upstream fetch failed");
    return status;
}

/* `url` without its query, for logs (queries may hold signatures or a CMS's parameters). */
static const char *shown_url(apr_pool_t *p, const char *url)
{
    const char *q = strpbrk(url, "?#");
    return q != NULL ? apr_pstrmemdup(p, url, (apr_size_t)(q - url)) : url;
}

/* The Host header value for `o` (port only when not the scheme's default). */
static const char *host_header(apr_pool_t *p, const origo_origin *o)
{
    const char *host = strchr(o->host, ':') != NULL ? apr_pstrcat(p, "[", o->host, "]", NULL) : o->host;
    if (o->port != (o->https ? 443u : 80u)) {
        host = apr_psprintf(p, "%s:%u", host, o->port);
    }
    return host;
}

/* Checks `url` against the policy and prepares it for sending. 0, or the status to answer with. */
static int plan_read(fetch_ctx *ctx, const char *url, uint64_t offset, uint64_t length, read_plan *plan,
                     origo_fetch_result *out)
{
    request_rec *r = ctx->r;
    const origo_origin *origin = &plan->origin;
    apr_time_t now = apr_time_now();
    apr_size_t cap;
    char *escaped;

    memset(plan, 0, sizeof(*plan));
    if (url == NULL || !origo_origin_parse(url, 0, &plan->origin)) {
        return fail(out, HTTP_BAD_GATEWAY, "not an http(s) URL");
    }
    plan->shown = shown_url(r->pool, url);
    if (!(ctx->has_own && origo_origin_equal(&ctx->own, origin)) && !origo_config_allows_origin(ctx->conf, origin)) {
        return fail(out, HTTP_FORBIDDEN, apr_psprintf(r->pool, "%s://%s is not allowed "
                    "(IsmProxyPass origin or OrigoProxyAllowHost)", origin->https ? "https" : "http",
                    host_header(r->pool, origin)));
    }
    if (now >= ctx->deadline) {
        return fail(out, HTTP_GATEWAY_TIME_OUT, "the request's upstream deadline (OrigoUpstreamDeadline) passed");
    }
    plan->deadline = now + origo_config_upstream_timeout(ctx->conf);
    if (plan->deadline > ctx->deadline) {
        plan->deadline = ctx->deadline;
    }
    /* A name with a space or non-ASCII bytes is sent percent-encoded. */
    cap = strlen(url) * 3 + 1;
    escaped = apr_palloc(r->pool, cap);
    if (origo_url_escape_unsafe(url, escaped, cap) == 0) {
        return fail(out, HTTP_BAD_GATEWAY, "URL cannot be encoded");
    }
    plan->url = escaped;
    plan->offset = offset;
    plan->length = length;
    plan->s3 = origo_s3_config_for_url(r, ctx->conf, escaped);
    if (!origo_s3_enabled(plan->s3)) {
        plan->s3 = NULL;
    }
    return 0;
}

/* apr_table_do callback: copies the named client header into the upstream table. */
typedef struct pass_rec {
    apr_table_t *to;
    const char *name;
} pass_rec;

static int pass_one(void *rec_, const char *key, const char *value)
{
    pass_rec *rec = rec_;
    if (strcasecmp(key, rec->name) == 0) {
        apr_table_add(rec->to, key, value);
    }
    return 1;
}

/* The headers every read carries (besides Range and signing): ours, and the ones passed on. */
static apr_table_t *upstream_headers(fetch_ctx *ctx, apr_pool_t *p)
{
    apr_table_t *h = apr_table_make(p, 8);
    int i;

    apr_table_setn(h, "User-Agent", ctx->user_agent);
    apr_table_setn(h, "CDN-Loop", ctx->cdn_loop);
    if (ctx->conf->pass_headers != NULL) {
        for (i = 0; i < ctx->conf->pass_headers->nelts; i++) {
            pass_rec rec = { h, APR_ARRAY_IDX(ctx->conf->pass_headers, i, const char *) };
            apr_table_do(pass_one, &rec, ctx->r->headers_in, NULL);
        }
    }
    return h;
}

/* A header of the answer as received for the engine (malloc): repeated ones joined by commas. */
static char *take_header(apr_pool_t *p, apr_table_t *headers, const char *name)
{
    const char *value = apr_table_getm(p, headers, name);
    return value != NULL ? strdup(value) : NULL;
}

/* Fills the parts of `out` that do not depend on the mode from the answer's headers: the ones the
   engine interprets (Content-Range, Content-Length) as received, ETag and Last-Modified. */
static void take_headers(apr_pool_t *p, apr_table_t *headers, origo_fetch_result *out)
{
    const char *value = apr_table_get(headers, "ETag");

    out->content_range = take_header(p, headers, "Content-Range");
    out->content_length = take_header(p, headers, "Content-Length");
    if (value != NULL) {
        out->etag = strdup(value);
    }
    value = apr_table_get(headers, "Last-Modified");
    if (value != NULL) {
        apr_time_t t = apr_date_parse_http(value);
        out->last_modified = t > 0 ? (int64_t)apr_time_sec(t) : 0;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* UspEnableSubreq on: mod_proxy subrequests.                                                   */

/*
 * Two settings of mod_proxy are for requests it relays, not for the origin's own reads:
 * ProxyAddHeaders (on by default) would add X-Forwarded-For/-Host/-Server with the client's
 * address and Host, and ProxyErrorOverride would read a whole error body and turn an upstream 404
 * into a 502. The subrequest gets a copy of its configuration vector with both switched off.
 */
static void own_proxy_settings(request_rec *sub)
{
    module *proxy = ap_find_linked_module("mod_proxy.c");
    proxy_dir_conf *dconf, *copy;
    ap_conf_vector_t *vector;
    module *m;

    if (proxy == NULL) {
        return;
    }
    dconf = ap_get_module_config(sub->per_dir_config, proxy);
    if (dconf == NULL || (!dconf->add_forwarded_headers && !dconf->error_override)) {
        return;
    }
    copy = apr_pmemdup(sub->pool, dconf, sizeof(*copy));
    copy->add_forwarded_headers = 0;
    copy->error_override = 0;
    vector = ap_create_per_dir_config(sub->pool);
    for (m = ap_top_module; m != NULL; m = m->next) {
        ap_set_module_config(vector, m, ap_get_module_config(sub->per_dir_config, m));
    }
    ap_set_module_config(vector, proxy, copy);
    sub->per_dir_config = vector;
}

/*
 * mod_proxy's reason for a failed read ("Error during SSL Handshake with remote server"), from the
 * HTML it leaves in the subrequest's "error-notes": tags dropped, one line, at most 200 bytes.
 */
static const char *error_note(apr_pool_t *p, const char *html)
{
    char *text, *out;
    int in_tag = 0;

    if (html == NULL) {
        return NULL;
    }
    text = out = apr_palloc(p, strlen(html) + 1);
    for (; *html != '\0' && out - text < 200; html++) {
        if (*html == '<' || *html == '>') {
            in_tag = *html == '<';
        }
        else if (!in_tag) {
            *out++ = apr_iscntrl(*html) ? ' ' : *html;
        }
    }
    *out = '\0';
    return *text != '\0' ? text : NULL;
}

/*
 * Ends a failed subrequest read: the reason is copied first (it may live in the subrequest's
 * pool), then the subrequest and whatever body arrived are dropped.
 */
static int abandon(request_rec *sub, capture *c, origo_fetch_result *out, int status, const char *text)
{
    int rc = fail(out, status, text);

    ap_destroy_sub_req(sub);
    free(c->body.data);
    c->body.data = NULL;
    return rc;
}

/* One attempt of a subrequest read. Sets *retry when nothing at all came back. */
static int subrequest_once(fetch_ctx *ctx, const read_plan *plan, origo_fetch_result *out, int *retry)
{
    request_rec *r = ctx->r;
    capture c;
    guard g;
    ap_filter_t *f;
    request_rec *sub;
    const char *wire = plan->url;
    char range[64];
    int rc, status;

    *retry = 0;
    memset(&c, 0, sizeof(c));
    memset(&g, 0, sizeof(g));
    g.deadline = plan->deadline;
    g.client = r->connection;
    c.guard = &g;
    c.want_offset = plan->offset;
    c.want_length = plan->length;
    c.ranged = plan->offset > 0 || plan->length > 0;
    c.body.max = plan->length > 0 ? plan->length : ORIGO_MAX_WHOLE_BODY;

    /* The capture filter on its own, linked to nothing of the main request's chains: it ends
       the subrequest's request and protocol chains, so the filters modules add to the
       subrequest (mod_cache's CACHE_SAVE_SUBREQ before it, protocol-level ones such as
       CACHE_REMOVE_URL) live and die with the subrequest instead of being spliced into the
       main request's chain, where they would outlive the subrequest's pool. */
    f = apr_pcalloc(r->pool, sizeof(*f));
    f->frec = capture_filter_handle;
    f->ctx = &c;
    f->r = r;
    f->c = r->connection;
    sub = ap_sub_req_method_uri("GET", ap_escape_uri(r->pool, r->uri), r, f);
    if (sub == NULL || sub->status != HTTP_OK) {
        status = sub != NULL ? sub->status : HTTP_INTERNAL_SERVER_ERROR;
        if (sub != NULL) {
            ap_destroy_sub_req(sub);
        }
        return fail(out, HTTP_BAD_GATEWAY, apr_psprintf(r->pool, "subrequest lookup failed with %d", status));
    }
    c.sub = sub;
    sub->proto_output_filters = f;
    /* mod_cache keys what it stores by the request's URI: one key per upstream object (and
       access scope), under the main request's path so that its CacheEnable still applies. */
    sub->uri = apr_pstrcat(sub->pool, r->uri, "/.origo-upstream/",
                           ap_md5(sub->pool, (const unsigned char *)apr_pstrcat(sub->pool, plan->url, "\n",
                                                                                 ctx->scope, NULL)), NULL);
    sub->unparsed_uri = sub->uri;
    sub->parsed_uri.path = sub->uri;
    sub->parsed_uri.query = NULL;
    sub->handler = "proxy-server";
    sub->proxyreq = PROXYREQ_REVERSE;
    sub->args = NULL;
    sub->kept_body = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    sub->expecting_100 = 0;
    /* Only what we decide goes upstream: none of the client's headers are inherited. */
    sub->headers_in = upstream_headers(ctx, sub->pool);
    if (*origo_range_value(plan->offset, plan->length, range, sizeof(range)) != '\0') {
        apr_table_set(sub->headers_in, "Range", range);
    }
    if (plan->s3 != NULL) {
        const char *error = origo_s3_sign_proxy_request(sub, plan->s3, plan->url, &wire);
        if (error != NULL) {
            return abandon(sub, &c, out, HTTP_INTERNAL_SERVER_ERROR, error);
        }
    }
    sub->filename = apr_pstrcat(sub->pool, "proxy:", wire, NULL);
    /* Now a proxy request, it gets what mod_proxy gives its own: the <Proxy> sections matching
       the URL merged into its configuration (SSLProxy*, ProxySet-like settings of other modules). */
    status = ap_run_map_to_storage(sub);
    if (status != OK && status != DECLINED) {
        return abandon(sub, &c, out, HTTP_BAD_GATEWAY,
                       apr_psprintf(r->pool, "mapping the proxy request failed with %d", status));
    }
    own_proxy_settings(sub);

    current_guard = &g;
    rc = ap_run_sub_req(sub);
    current_guard = NULL;
    status = sub->status;

    if (g.stopped != NULL && !c.complete) {
        return abandon(sub, &c, out, g.stop_status, g.stopped);
    }
    if (rc != OK && rc != DONE && !c.complete) {
        /* mod_proxy_http answers a read timeout with 502 but leaves this note. */
        int timed_out = rc == HTTP_GATEWAY_TIME_OUT || apr_table_get(sub->notes, "proxy_timedout") != NULL;
        const char *why = error_note(r->pool, apr_table_get(sub->notes, "error-notes"));
        *retry = g.received == 0 && !c.decided && !timed_out;
        return abandon(sub, &c, out, timed_out ? HTTP_GATEWAY_TIME_OUT : HTTP_BAD_GATEWAY,
                       apr_psprintf(r->pool, "mod_proxy answered %d%s%s", rc, timed_out ? ", timed out" : "",
                                 why != NULL ? apr_pstrcat(r->pool, ": ", why, NULL) : ""));
    }
    if (c.ignored_range) {
        return abandon(sub, &c, out, HTTP_BAD_GATEWAY, "upstream ignored Range (200 with the whole object) "
                       "for bytes beyond the first 16 MiB");
    }
    if (c.failed || c.overflow) {
        /* mod_proxy reports a kept-alive connection that died before the status line this way
           too (an error bucket, OK) when the client's connection has had earlier requests. */
        *retry = c.failed && !c.decided && g.received == 0;
        return abandon(sub, &c, out, HTTP_BAD_GATEWAY, c.failed ? "upstream body broke off"
                       : plan->length > 0 ? "upstream body larger than asked for"
                       : apr_psprintf(r->pool, "upstream object larger than %" APR_UINT64_T_FMT " bytes",
                                      (apr_uint64_t)ORIGO_MAX_WHOLE_BODY));
    }

    /* The answer as received: the engine reads Content-Range and Content-Length and decides
       whether it is consistent. A sliced 200 starts at the wanted offset (or at its end, when it
       ended before it); `complete` means it was cut at the wanted range's end. */
    out->status = status;
    if (c.sliced) {
        out->data_offset = c.seen < plan->offset ? c.seen : plan->offset;
    }
    out->ended = !c.complete;
    out->data = c.body.data;
    out->length = c.body.len;
    take_headers(sub->pool, sub->headers_out, out);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, ORIGO_LOGNO(10201)
                  "upstream %s (%" APR_UINT64_T_FMT "+%" APR_UINT64_T_FMT "): %d, %" APR_SIZE_T_FMT " bytes%s",
                  plan->shown, plan->offset, plan->length, status, c.body.len, c.complete ? ", cut" : "");
    ap_destroy_sub_req(sub);
    return 0;
}

static int read_subrequest(fetch_ctx *ctx, const read_plan *plan, origo_fetch_result *out)
{
    int retry = 0;
    apr_time_t started = apr_time_now();
    int rc = subrequest_once(ctx, plan, out, &retry);

    /* A connection the storage closed fails at once; a slow failure (a connect that timed out)
       is not worth a second wait. */
    if (rc != 0 && retry && apr_time_now() - started < apr_time_from_sec(1) && apr_time_now() < plan->deadline) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ctx->r, ORIGO_LOGNO(10203)
                      "upstream %s gave nothing back (%s); trying once more", plan->shown,
                      out->error != NULL ? out->error : "");
        free(out->error);
        out->error = NULL;
        rc = subrequest_once(ctx, plan, out, &retry);
    }
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* UspEnableSubreq off: libcurl.                                                                */

static int curl_client_gone(void *client)
{
    return client_gone(client);
}

static int read_curl(fetch_ctx *ctx, const read_plan *plan, origo_fetch_result *out)
{
    request_rec *r = ctx->r;
    apr_table_t *headers = upstream_headers(ctx, r->pool);
    const apr_array_header_t *entries;
    const char **lines;
    origo_curl_request req;
    const char *wire = plan->url;
    int i, n = 0, rc;

    if (plan->s3 != NULL) {
        origo_s3_signature sig;
        const char *error = origo_s3_sign_get(r->pool, plan->s3, "GET", plan->url,
                                              host_header(r->pool, &plan->origin), &sig);
        if (error != NULL) {
            return fail(out, HTTP_INTERNAL_SERVER_ERROR, error);
        }
        /* Our signature alone: no passed client header may stand in for it or add to it. */
        origo_s3_set_headers(r->pool, headers, &sig);
        wire = sig.wire_url;
    }
    entries = apr_table_elts(headers);
    lines = apr_pcalloc(r->pool, sizeof(const char *) * ((apr_size_t)entries->nelts + 1));
    for (i = 0; i < entries->nelts; i++) {
        const apr_table_entry_t *e = &((const apr_table_entry_t *)entries->elts)[i];
        lines[n++] = apr_pstrcat(r->pool, e->key, ": ", e->val, NULL);
    }

    memset(&req, 0, sizeof(req));
    req.url = wire;
    req.offset = plan->offset;
    req.length = plan->length;
    req.headers = lines;
    req.max_body = ORIGO_MAX_WHOLE_BODY;
    req.timeout_usec = plan->deadline - apr_time_now();
    req.ca_file = ctx->conf->ca_file;
    req.proxy = ctx->conf->upstream_proxy;
    req.client_gone = curl_client_gone;
    req.client_ctx = r->connection;

    rc = origo_curl_fetch(&req, out);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, ORIGO_LOGNO(10204)
                  "upstream %s (%" APR_UINT64_T_FMT "+%" APR_UINT64_T_FMT "): %d, %" APR_UINT64_T_FMT
                  " bytes (libcurl, %" APR_UINT64_T_FMT " connections opened by this process)%s%s",
                  plan->shown, plan->offset, plan->length, out->status, (apr_uint64_t)out->length,
                  origo_curl_connections_opened(), rc != 0 ? ": " : "", rc != 0 && out->error ? out->error : "");
    return rc;
}

/* ------------------------------------------------------------------------------------------ */

static int fetch(void *ctx_, const char *url, uint64_t offset, uint64_t length, origo_fetch_result *out)
{
    fetch_ctx *ctx = ctx_;
    read_plan plan;
    apr_time_t start = apr_time_now();
    int rc = plan_read(ctx, url, offset, length, &plan, out);

    if (rc == 0) {
        rc = origo_config_uses_subrequests(ctx->conf) ? read_subrequest(ctx, &plan, out) : read_curl(ctx, &plan, out);
    }
    origo_metrics_upstream(rc, out->status, out->length, apr_time_now() - start);
    return rc;
}

/*
 * What the upstream reads of a request may see and trust, as text: IsmProxyPass's URL, the S3
 * identity, the allowed origins, how reads travel (mode, CA file, proxy) and the client headers
 * passed on with their values. The engine shares cached presentations (and remembered failures)
 * only between requests with the same scope: what one location or viewer may read is never
 * served to another that may not.
 */
static const char *scope_of(request_rec *r, const origo_dir_config *conf)
{
    const char *scope = conf->proxy_url != NULL ? conf->proxy_url : "";
    int i;

    /* Credentials are part of the access policy: no sharing between different S3 settings. */
    scope = apr_pstrcat(r->pool, scope, origo_s3_scope(r->pool, conf), NULL);
    if (!origo_config_uses_subrequests(conf)) {
        scope = apr_pstrcat(r->pool, scope, " curl ca=", conf->ca_file != NULL ? conf->ca_file : "",
                            " proxy=", conf->upstream_proxy != NULL ? conf->upstream_proxy : "", NULL);
    }
    if (conf->pass_headers != NULL) {
        for (i = 0; i < conf->pass_headers->nelts; i++) {
            const char *name = APR_ARRAY_IDX(conf->pass_headers, i, const char *);
            const char *value = apr_table_get(r->headers_in, name);
            /* Length-prefixed: no value can imitate another component of the scope. */
            value = value != NULL ? value : "";
            scope = apr_psprintf(r->pool, "%s %s=%" APR_SIZE_T_FMT ":%s", scope, name, strlen(value), value);
        }
    }

    if (conf->allow_hosts != NULL) {
        for (i = 0; i < conf->allow_hosts->nelts; i++) {
            const origo_origin *o = &APR_ARRAY_IDX(conf->allow_hosts, i, origo_origin);
            scope = apr_psprintf(r->pool, "%s %s://%s:%u", scope, o->https ? "https" : "http", o->host, o->port);
        }
    }
    return scope;
}

/* "Origo/<version>", the version taken from the engine's "origo-engine/<version> (...)". */
static const char *user_agent(apr_pool_t *p)
{
    const char *v = strchr(origo_engine_version(), '/');
    size_t n = v != NULL ? strcspn(v + 1, " ") : 0;
    return n > 0 ? apr_pstrcat(p, "Origo/", apr_pstrmemdup(p, v + 1, n), NULL) : "Origo";
}

int origo_upstream_hops(request_rec *r)
{
    const char *value = apr_table_get(r->headers_in, "CDN-Loop");
    /* Several CDN-Loop header lines are merged by Apache into one comma-separated value. */
    return value != NULL ? origo_cdn_loop_count(value, ORIGO_LOOP_TOKEN) : 0;
}

void origo_upstream_for_request(request_rec *r, const origo_dir_config *conf, origo_upstream *out)
{
    fetch_ctx *ctx = apr_pcalloc(r->pool, sizeof(*ctx));
    int hops = origo_upstream_hops(r) + 1, i;
    char *loop;

    ctx->r = r;
    ctx->conf = conf;
    ctx->has_own = conf->proxy_url != NULL && origo_origin_parse(conf->proxy_url, 0, &ctx->own);
    ctx->deadline = r->request_time + origo_config_upstream_deadline(conf);
    ctx->user_agent = user_agent(r->pool);
    /* OrigoMaxHops is at most 16, and a request with more hops was refused already. */
    loop = apr_pstrdup(r->pool, ORIGO_LOOP_TOKEN);
    for (i = 1; i < hops && i < 32; i++) {
        loop = apr_pstrcat(r->pool, loop, ", " ORIGO_LOOP_TOKEN, NULL);
    }
    ctx->cdn_loop = loop;
    ctx->scope = scope_of(r, conf);
    out->ctx = ctx;
    out->fetch = fetch;
    out->scope = ctx->scope;
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
    /* Where the manifest (or media file) part ends is the engine's grammar; a virtual path follows. */
    mlen = origo_manifest_length(rest);
    if (mlen == 0 || rest[mlen] != '/') {
        return DECLINED;
    }
    *manifest_url = apr_pstrcat(r->pool, conf->proxy_url,
                                ap_escape_uri(r->pool, apr_pstrmemdup(r->pool, rest, mlen)), NULL);
    *virtual_path = rest + mlen + 1;
    return OK;
}
