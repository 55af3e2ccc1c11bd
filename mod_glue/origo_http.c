/*
 * The built-in upstream client for UspEnableSubreq off.
 *
 * One fetch is one HTTP/1.1 GET (Host, optional Range, Accept-Encoding: identity) on a connection
 * taken from this process's idle pool, or a new one. Answers with Content-Length, chunked bodies
 * and bodies ended by the connection's close are read; 1xx answers are skipped. A connection goes
 * back to the pool when its answer was read completely and neither side said "close", so a run of
 * segment requests reuses a few sockets instead of leaving one in TIME_WAIT per upstream read
 * (seed 001). A pooled connection that the server closed meanwhile is noticed before use (a
 * zero-timeout read), and a request that fails on a reused connection before any answer byte
 * arrived is retried once on a new one.
 *
 * The pool is a small array under one mutex: connections are LIFO per host:port so the warmest
 * socket is reused first; at most ORIGO_HTTP_MAX_IDLE stay open per process. Every connection owns
 * an unmanaged APR pool, so threads never share a pool.
 */
#include "origo_http.h"
#include "origo_upstream.h"

#include "apr_atomic.h"
#include "apr_date.h"
#include "apr_lib.h"
#include "apr_network_io.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "apr_uri.h"
#include "http_log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "origo_bridge.h"
#include "origo_upstream.h"

APLOG_USE_MODULE(origo);

#define ORIGO_HTTP_MAX_IDLE 64
#define ORIGO_HTTP_BUFFER (32 * 1024)          /* read buffer; also the largest header block */
#define ORIGO_HTTP_MAX_WHOLE (APR_UINT64_C(64) << 20)
#define ORIGO_HTTP_MAX_DRAIN (APR_UINT64_C(1) << 20)  /* error bodies read to keep the connection */

typedef struct http_conn {
    apr_pool_t *pool;
    apr_socket_t *sock;
    char key[300];              /* "host:port" */
    char buf[ORIGO_HTTP_BUFFER];
    apr_size_t start, end;      /* unread bytes are buf[start, end) */
} http_conn;

static apr_thread_mutex_t *idle_mutex;
static http_conn *idle[ORIGO_HTTP_MAX_IDLE];
static int idle_count;
static volatile apr_uint32_t opened;

void origo_http_child_init(apr_pool_t *pchild)
{
#if APR_HAS_THREADS
    apr_thread_mutex_create(&idle_mutex, APR_THREAD_MUTEX_DEFAULT, pchild);
#else
    (void)pchild;
#endif
}

apr_uint64_t origo_http_connections_opened(void)
{
    return apr_atomic_read32(&opened);
}

static void lock(void)
{
    if (idle_mutex != NULL) {
        apr_thread_mutex_lock(idle_mutex);
    }
}

static void unlock(void)
{
    if (idle_mutex != NULL) {
        apr_thread_mutex_unlock(idle_mutex);
    }
}

static void conn_close(http_conn *c)
{
    if (c != NULL) {
        apr_socket_close(c->sock);
        apr_pool_destroy(c->pool);
    }
}

/* An idle connection to `key` that is still open, or NULL. */
static http_conn *take_idle(const char *key)
{
    for (;;) {
        http_conn *c = NULL;
        int i;
        char probe;
        apr_size_t n = 1;
        apr_status_t rv;

        lock();
        for (i = idle_count - 1; i >= 0; i--) {
            if (strcmp(idle[i]->key, key) == 0) {
                c = idle[i];
                memmove(&idle[i], &idle[i + 1], (size_t)(idle_count - i - 1) * sizeof(idle[0]));
                idle_count--;
                break;
            }
        }
        unlock();
        if (c == NULL) {
            return NULL;
        }
        /* Closed by the server (EOF), reset, or unexpected bytes: not usable. */
        apr_socket_timeout_set(c->sock, 0);
        rv = apr_socket_recv(c->sock, &probe, &n);
        if (c->start == c->end && APR_STATUS_IS_EAGAIN(rv)) {
            return c;
        }
        conn_close(c);
    }
}

static void put_idle(http_conn *c)
{
    lock();
    if (idle_count < ORIGO_HTTP_MAX_IDLE) {
        idle[idle_count++] = c;
        c = NULL;
    }
    unlock();
    conn_close(c);
}

static apr_status_t conn_open(const char *host, apr_port_t port, const char *key, apr_interval_time_t timeout,
                              http_conn **out)
{
    apr_pool_t *p;
    apr_sockaddr_t *sa;
    apr_status_t rv;
    http_conn *c;

    rv = apr_pool_create_unmanaged_ex(&p, NULL, NULL);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    c = apr_pcalloc(p, sizeof(*c));
    c->pool = p;
    apr_cpystrn(c->key, key, sizeof(c->key));
    rv = apr_sockaddr_info_get(&sa, host, APR_UNSPEC, port, 0, p);
    for (; rv == APR_SUCCESS && sa != NULL; sa = sa->next) {
        rv = apr_socket_create(&c->sock, sa->family, SOCK_STREAM, APR_PROTO_TCP, p);
        if (rv != APR_SUCCESS) {
            continue;
        }
        apr_socket_opt_set(c->sock, APR_TCP_NODELAY, 1);
        apr_socket_timeout_set(c->sock, timeout);
        rv = apr_socket_connect(c->sock, sa);
        if (rv == APR_SUCCESS) {
            apr_atomic_inc32(&opened);
            *out = c;
            return APR_SUCCESS;
        }
        apr_socket_close(c->sock);
        if (sa->next == NULL) {
            break;
        }
    }
    apr_pool_destroy(p);
    return rv != APR_SUCCESS ? rv : APR_EGENERAL;
}

static apr_status_t send_all(http_conn *c, const char *data, apr_size_t len)
{
    while (len > 0) {
        apr_size_t n = len;
        apr_status_t rv = apr_socket_send(c->sock, data, &n);
        if (rv != APR_SUCCESS && n == 0) {
            return rv;
        }
        data += n;
        len -= n;
    }
    return APR_SUCCESS;
}

/* Reads more bytes into the buffer (compacting it first). APR_EOF when the peer closed. */
static apr_status_t fill(http_conn *c)
{
    apr_size_t n;
    apr_status_t rv;

    if (c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->end == sizeof(c->buf)) {
        return APR_ENOSPC;
    }
    n = sizeof(c->buf) - c->end;
    rv = apr_socket_recv(c->sock, c->buf + c->end, &n);
    c->end += n;
    if (n > 0) {
        return APR_SUCCESS;
    }
    return rv == APR_SUCCESS ? APR_EOF : rv;
}

/* Where the body goes: the engine's fetch semantics (keep 2xx, slice a 200 to a ranged GET). */
typedef struct sink {
    int keep, sliced, overflow;
    apr_uint64_t want_offset, want_length, seen;
    origo_body_buffer body;     /* the engine takes body.data */
} sink;

static void sink_put(sink *s, const char *bytes, apr_size_t n)
{
    apr_uint64_t start = s->seen;

    s->seen += n;
    if (!s->keep || s->overflow || n == 0) {
        return;
    }
    if (s->sliced) {
        apr_uint64_t end = start + n;
        apr_uint64_t want_end = s->want_length > 0 ? s->want_offset + s->want_length : (apr_uint64_t)-1;
        apr_uint64_t lo = start > s->want_offset ? start : s->want_offset;
        apr_uint64_t hi = end < want_end ? end : want_end;
        if (lo >= hi) {
            return;
        }
        bytes += lo - start;
        n = (apr_size_t)(hi - lo);
    }
    if (!origo_body_append(&s->body, bytes, n)) {
        s->overflow = 1;
    }
}

/* Moves up to `want` buffered body bytes into the sink; reads when the buffer is empty. */
static apr_status_t body_bytes(http_conn *c, sink *s, apr_uint64_t want, apr_uint64_t *got)
{
    apr_size_t avail, n;
    apr_status_t rv;

    if (c->start == c->end) {
        rv = fill(c);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    avail = c->end - c->start;
    n = want < (apr_uint64_t)avail ? (apr_size_t)want : avail;
    sink_put(s, c->buf + c->start, n);
    c->start += n;
    *got = n;
    return APR_SUCCESS;
}

/* One CRLF-terminated line (without it) from the buffer, in `line` (NUL-terminated). */
static apr_status_t read_line(http_conn *c, char *line, apr_size_t size)
{
    for (;;) {
        char *nl = memchr(c->buf + c->start, '\n', c->end - c->start);
        if (nl != NULL) {
            apr_size_t len = (apr_size_t)(nl - (c->buf + c->start));
            apr_size_t keep = len > 0 && nl[-1] == '\r' ? len - 1 : len;
            if (keep >= size) {
                return APR_ENOSPC;
            }
            memcpy(line, c->buf + c->start, keep);
            line[keep] = '\0';
            c->start += len + 1;
            return APR_SUCCESS;
        }
        {
            apr_status_t rv = fill(c);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
    }
}

/* What one answer's head said. */
typedef struct head {
    int status;
    int close;                  /* Connection: close, or HTTP/1.0 without keep-alive */
    int chunked;
    apr_int64_t content_length; /* -1 unknown */
    const char *content_range, *etag, *last_modified;
} head;

static apr_status_t read_head(http_conn *c, request_rec *r, head *h, int *any_bytes)
{
    char line[8192];
    apr_status_t rv;
    int http10;

    memset(h, 0, sizeof(*h));
    h->content_length = -1;
    rv = read_line(c, line, sizeof(line));
    if (rv != APR_SUCCESS) {
        return rv;
    }
    *any_bytes = 1;
    if (strncmp(line, "HTTP/1.", 7) != 0 || !apr_isdigit(line[7]) || line[8] != ' '
        || !apr_isdigit(line[9]) || !apr_isdigit(line[10]) || !apr_isdigit(line[11])) {
        return APR_EGENERAL;
    }
    http10 = line[7] == '0';
    h->close = http10;
    h->status = atoi(line + 9);
    for (;;) {
        char *colon, *value, *end;
        rv = read_line(c, line, sizeof(line));
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (line[0] == '\0') {
            return APR_SUCCESS;
        }
        colon = strchr(line, ':');
        if (colon == NULL) {
            return APR_EGENERAL;
        }
        *colon = '\0';
        value = colon + 1;
        while (*value == ' ' || *value == '\t') {
            value++;
        }
        end = value + strlen(value);
        while (end > value && (end[-1] == ' ' || end[-1] == '\t')) {
            *--end = '\0';
        }
        if (strcasecmp(line, "Content-Length") == 0) {
            char *stop;
            apr_int64_t v = apr_strtoi64(value, &stop, 10);
            if (stop == value || *stop != '\0' || v < 0
                || (h->content_length >= 0 && h->content_length != v)) {
                return APR_EGENERAL;
            }
            h->content_length = v;
        }
        else if (strcasecmp(line, "Transfer-Encoding") == 0) {
            h->chunked = ap_strcasestr(value, "chunked") != NULL;
            if (!h->chunked) {
                return APR_ENOTIMPL;
            }
        }
        else if (strcasecmp(line, "Connection") == 0) {
            if (ap_strcasestr(value, "close") != NULL) {
                h->close = 1;
            }
            else if (http10 && ap_strcasestr(value, "keep-alive") != NULL) {
                h->close = 0;
            }
        }
        else if (strcasecmp(line, "Content-Range") == 0) {
            h->content_range = apr_pstrdup(r->pool, value);
        }
        else if (strcasecmp(line, "ETag") == 0) {
            h->etag = apr_pstrdup(r->pool, value);
        }
        else if (strcasecmp(line, "Last-Modified") == 0) {
            h->last_modified = apr_pstrdup(r->pool, value);
        }
    }
}

/* Reads the body as the head describes it. Sets *reusable when the connection can serve again. */
static apr_status_t read_body(http_conn *c, const head *h, sink *s, int *reusable)
{
    apr_status_t rv;
    apr_uint64_t got;

    *reusable = 0;
    if (h->status == 204 || h->status == 304) {
        *reusable = !h->close;
        return APR_SUCCESS;
    }
    if (h->chunked) {
        char line[1024];
        for (;;) {
            char *stop;
            apr_int64_t size;
            apr_uint64_t left;
            rv = read_line(c, line, sizeof(line));
            if (rv != APR_SUCCESS) {
                return rv;
            }
            size = apr_strtoi64(line, &stop, 16);
            if (stop == line || size < 0 || (*stop != '\0' && *stop != ';' && *stop != ' ')) {
                return APR_EGENERAL;
            }
            if (size == 0) {
                break;
            }
            for (left = (apr_uint64_t)size; left > 0; left -= got) {
                rv = body_bytes(c, s, left, &got);
                if (rv != APR_SUCCESS) {
                    return rv;
                }
                if (!s->keep && s->seen > ORIGO_HTTP_MAX_DRAIN) {
                    return APR_SUCCESS;   /* not worth draining: close instead */
                }
            }
            rv = read_line(c, line, sizeof(line));
            if (rv != APR_SUCCESS || line[0] != '\0') {
                return rv != APR_SUCCESS ? rv : APR_EGENERAL;
            }
        }
        do {    /* trailers */
            rv = read_line(c, line, sizeof(line));
            if (rv != APR_SUCCESS) {
                return rv;
            }
        } while (line[0] != '\0');
        *reusable = !h->close;
        return APR_SUCCESS;
    }
    if (h->content_length >= 0) {
        apr_uint64_t left;
        if (!s->keep && (apr_uint64_t)h->content_length > ORIGO_HTTP_MAX_DRAIN) {
            return APR_SUCCESS;
        }
        for (left = (apr_uint64_t)h->content_length; left > 0; left -= got) {
            rv = body_bytes(c, s, left, &got);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
        *reusable = !h->close;
        return APR_SUCCESS;
    }
    /* Neither: the body ends when the server closes the connection. */
    for (;;) {
        rv = body_bytes(c, s, (apr_uint64_t)-1, &got);
        if (APR_STATUS_IS_EOF(rv)) {
            return APR_SUCCESS;
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (s->overflow || (!s->keep && s->seen > ORIGO_HTTP_MAX_DRAIN)) {
            return APR_SUCCESS;
        }
    }
}

static int failure(origo_fetch_result *out, request_rec *r, apr_status_t rv, const char *what, const char *url)
{
    char reason[120];
    int timed_out = APR_STATUS_IS_TIMEUP(rv);

    apr_strerror(rv, reason, sizeof(reason));
    out->error = strdup(apr_psprintf(r->pool, "%s %s: %s%s", what, url, reason,
                                     timed_out ? " (timed out)" : ""));
    return timed_out ? HTTP_GATEWAY_TIME_OUT : HTTP_BAD_GATEWAY;
}

int origo_http_fetch(request_rec *r, const char *url, apr_uint64_t offset, apr_uint64_t length,
                     apr_interval_time_t timeout, origo_fetch_result *out)
{
    apr_uri_t uri;
    apr_port_t port;
    const char *key, *target, *request, *where;
    http_conn *c = NULL;
    head h;
    sink s;
    int attempt, ranged = offset > 0 || length > 0, reusable = 0;
    apr_status_t rv = APR_SUCCESS;

    if (apr_uri_parse(r->pool, url, &uri) != APR_SUCCESS || uri.scheme == NULL || strcasecmp(uri.scheme, "http") != 0
        || uri.hostname == NULL || *uri.hostname == '\0') {
        out->error = strdup("the built-in upstream client reads http:// URLs only");
        return HTTP_BAD_GATEWAY;
    }
    port = uri.port ? uri.port : 80;
    key = apr_psprintf(r->pool, "%s:%u", uri.hostname, port);
    target = apr_pstrcat(r->pool, uri.path != NULL && *uri.path != '\0' ? uri.path : "/",
                         uri.query != NULL ? "?" : "", uri.query != NULL ? uri.query : "", NULL);
    request = apr_pstrcat(r->pool, "GET ", target, " HTTP/1.1\r\nHost: ",
                          uri.port_str != NULL ? apr_pstrcat(r->pool, uri.hostname, ":", uri.port_str, NULL)
                                               : uri.hostname,
                          "\r\nUser-Agent: Origo\r\nAccept-Encoding: identity\r\n",
                          ranged ? (length > 0
                              ? apr_psprintf(r->pool, "Range: bytes=%" APR_UINT64_T_FMT "-%" APR_UINT64_T_FMT "\r\n",
                                             offset, offset + length - 1)
                              : apr_psprintf(r->pool, "Range: bytes=%" APR_UINT64_T_FMT "-\r\n", offset)) : "",
                          "\r\n", NULL);

    for (attempt = 0; attempt < 2; attempt++) {
        int reused = 0, any_bytes = 0;

        c = attempt == 0 ? take_idle(key) : NULL;
        if (c != NULL) {
            reused = 1;
            apr_socket_timeout_set(c->sock, timeout);
        }
        else {
            rv = conn_open(uri.hostname, port, key, timeout, &c);
            if (rv != APR_SUCCESS) {
                return failure(out, r, rv, "cannot connect to", key);
            }
        }
        where = "sending to";
        rv = send_all(c, request, strlen(request));
        if (rv == APR_SUCCESS) {
            where = "reading the answer of";
            do {
                rv = read_head(c, r, &h, &any_bytes);
            } while (rv == APR_SUCCESS && h.status >= 100 && h.status < 200);
        }
        if (rv == APR_SUCCESS) {
            break;
        }
        conn_close(c);
        c = NULL;
        /* The server closed a kept-alive connection just as we used it: once more, on a new one. */
        if (!(reused && !any_bytes && !APR_STATUS_IS_TIMEUP(rv))) {
            return failure(out, r, rv, where, url);
        }
    }
    if (c == NULL) {
        return failure(out, r, rv, "reading the answer of", url);
    }

    memset(&s, 0, sizeof(s));
    s.keep = h.status == HTTP_OK || h.status == HTTP_PARTIAL_CONTENT;
    s.sliced = s.keep && ranged && h.status == HTTP_OK;
    s.want_offset = offset;
    s.want_length = length;
    s.body.max = length > 0 && !s.sliced ? length : ORIGO_HTTP_MAX_WHOLE;
    rv = read_body(c, &h, &s, &reusable);
    if (rv != APR_SUCCESS || s.overflow) {
        conn_close(c);
        free(s.body.data);
        if (rv == APR_SUCCESS) {
            out->error = strdup("upstream body larger than asked for");
            return HTTP_BAD_GATEWAY;
        }
        return failure(out, r, rv, APR_STATUS_IS_EOF(rv) ? "body broke off:" : "reading the body of", url);
    }
    if (reusable) {
        put_idle(c);
    }
    else {
        conn_close(c);
    }

    out->status = h.status;
    if (h.status == HTTP_PARTIAL_CONTENT) {
        apr_uint64_t start, last, total = 0;
        if (!origo_parse_content_range(h.content_range, &start, &last, &total) || s.body.len != last - start + 1) {
            free(s.body.data);
            out->error = strdup("206 with a missing or inconsistent Content-Range");
            return HTTP_BAD_GATEWAY;
        }
        out->data_offset = start;
        out->total_size = total;
    }
    else if (h.status == HTTP_OK) {
        if (h.content_length >= 0 && (apr_uint64_t)h.content_length != s.seen) {
            free(s.body.data);
            out->error = strdup("200 body shorter than its Content-Length");
            return HTTP_BAD_GATEWAY;
        }
        out->total_size = s.seen;
        out->data_offset = s.sliced ? offset : 0;
    }
    out->data = s.body.data;
    out->length = s.body.len;
    if (h.etag != NULL) {
        out->etag = strdup(h.etag);
    }
    if (h.last_modified != NULL) {
        apr_time_t t = apr_date_parse_http(h.last_modified);
        out->last_modified = t > 0 ? (int64_t)apr_time_sec(t) : 0;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, ORIGO_LOGNO(10301)
                  "upstream (built-in) %s (%" APR_UINT64_T_FMT "+%" APR_UINT64_T_FMT "): %d, %" APR_SIZE_T_FMT
                  " bytes; %u connections opened by this process", url, offset, length, h.status, s.body.len,
                  apr_atomic_read32(&opened));
    return 0;
}
