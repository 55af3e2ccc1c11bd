/*
 * The libcurl upstream client. See origo_curl.h.
 *
 * One fetch: take an easy handle from the pool (or make one), set every option afresh, perform,
 * put the handle back (curl_easy_reset keeps its connections). The callbacks enforce the bounds
 * and decide which body bytes to keep; they end a transfer by returning a short count (write and
 * header callbacks) or nonzero (progress callback), which also closes its connection. `stopped`
 * marks an early end that is a success (the wanted bytes have arrived), `fault` one that is not.
 */
#define _POSIX_C_SOURCE 200809L

#include "origo_curl.h"
#include "origo_url.h"

#include <curl/curl.h>

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define POLL_INTERVAL_USEC 200000

/* ------------------------------------------------------------------ per-process state */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;
static pthread_mutex_t share_mutex[CURL_LOCK_DATA_LAST];
static CURLSH *share;

static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static CURL *pool[ORIGO_CURL_POOL_SIZE];     /* idle handles, the most recently used on top */
static int pool_count;
static uint64_t opened;                      /* under pool_mutex */

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *ctx)
{
    (void)handle;
    (void)access;
    (void)ctx;
    pthread_mutex_lock(&share_mutex[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *ctx)
{
    (void)handle;
    (void)ctx;
    pthread_mutex_unlock(&share_mutex[data]);
}

int origo_curl_child_init(void)
{
    int i;

    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        return -1;
    }
    if (share != NULL) {
        return 0;
    }
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_init(&share_mutex[i], NULL);
    }
    share = curl_share_init();
    if (share == NULL
        || curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK
        || curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK
        || curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK
        || curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
        curl_share_cleanup(share);
        share = NULL;
        return -1;
    }
    return 0;
}

void origo_curl_child_exit(void)
{
    pthread_mutex_lock(&pool_mutex);
    while (pool_count > 0) {
        curl_easy_cleanup(pool[--pool_count]);
    }
    pthread_mutex_unlock(&pool_mutex);
    if (share != NULL && curl_share_cleanup(share) == CURLSHE_OK) {
        share = NULL;
    }
}

uint64_t origo_curl_connections_opened(void)
{
    uint64_t n;

    pthread_mutex_lock(&pool_mutex);
    n = opened;
    pthread_mutex_unlock(&pool_mutex);
    return n;
}

static CURL *take_handle(void)
{
    CURL *h = NULL;

    pthread_mutex_lock(&pool_mutex);
    if (pool_count > 0) {
        h = pool[--pool_count];
    }
    pthread_mutex_unlock(&pool_mutex);
    return h != NULL ? h : curl_easy_init();
}

/* Back to the pool without the options of the last fetch (its connections stay), or closed. */
static void give_back(CURL *h, long connects)
{
    curl_easy_reset(h);
    pthread_mutex_lock(&pool_mutex);
    opened += connects > 0 ? (uint64_t)connects : 0;
    if (pool_count < ORIGO_CURL_POOL_SIZE) {
        pool[pool_count++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&pool_mutex);
    if (h != NULL) {
        curl_easy_cleanup(h);
    }
}

/* ------------------------------------------------------------------ pure helpers */

static int64_t monotonic_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------ one transfer */

typedef struct transfer {
    const origo_curl_request *req;
    int ranged;
    uint64_t want_end;          /* offset + length; UINT64_MAX when open-ended */
    uint64_t max_body;
    /* the answer being received: reset by each status line */
    int status;
    char *etag, *last_modified, *content_range, *content_length;
    /* the whole exchange */
    size_t header_bytes, header_lines;
    int interim;
    uint64_t seen;              /* body bytes received */
    origo_body_buffer body;     /* body bytes kept (the caller bounds them) */
    int stopped;                /* ended early, successfully: the wanted bytes are here */
    int fault_status;           /* ended early by a fault (502/504), described in fault */
    char fault[160];
    int64_t next_poll;
} transfer;

/* Ends the transfer with a fault; returns the short count that makes libcurl stop. */
static size_t refuse(transfer *t, int status, const char *reason)
{
    if (t->fault_status == 0) {
        t->fault_status = status;
        snprintf(t->fault, sizeof(t->fault), "%s", reason);
    }
    return 0;
}

static int keep(transfer *t, const char *bytes, size_t n)
{
    return origo_body_append(&t->body, bytes, n);
}

static void replace(char **field, char *value)
{
    free(*field);
    *field = value;
}

/* Keeps a header value as received for the engine; a repeated header is joined to the earlier
   value by a comma (as HTTP joins a list, and as apr_table_getm does for the subrequest reader),
   so that the engine sees both. 0 when out of memory. */
static int keep_header(char **field, const char *value, size_t len)
{
    size_t old = *field != NULL ? strlen(*field) : 0;
    char *joined = malloc(old + (old > 0 ? 1 : 0) + len + 1);

    if (joined == NULL) {
        return 0;
    }
    if (old > 0) {
        memcpy(joined, *field, old);
        joined[old++] = ',';
    }
    memcpy(joined + old, value, len);
    joined[old + len] = '\0';
    replace(field, joined);
    return 1;
}

/* "HTTP/1.1 206 Partial Content": 206, or -1. */
static int parse_status_line(const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len);

    if (sp == NULL || line + len - sp < 4 || sp[1] < '1' || sp[1] > '5' || sp[2] < '0' || sp[2] > '9'
        || sp[3] < '0' || sp[3] > '9') {
        return -1;
    }
    return (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
}

static size_t on_header(char *line, size_t size, size_t count, void *arg)
{
    transfer *t = arg;
    size_t len = size * count, name_len;
    const char *colon, *value, *end;

    t->header_bytes += len;
    if (t->header_bytes > ORIGO_CURL_MAX_HEADER_BYTES) {
        return refuse(t, 502, "upstream header block too large (over 64 KiB)");
    }
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        t->status = parse_status_line(line, len);
        if (t->status < 0) {
            return refuse(t, 502, "malformed upstream status line");
        }
        replace(&t->etag, NULL);
        replace(&t->last_modified, NULL);
        replace(&t->content_range, NULL);
        replace(&t->content_length, NULL);
        if (t->status < 200 && ++t->interim > ORIGO_CURL_MAX_INTERIM) {
            return refuse(t, 502, "more than 3 interim (1xx) upstream answers");
        }
        return len;
    }
    if (line[0] == '\r' || line[0] == '\n') {
        return len;             /* the empty line ending a header block */
    }
    if (++t->header_lines > ORIGO_CURL_MAX_HEADER_LINES) {
        return refuse(t, 502, "upstream header block too large (over 100 lines)");
    }
    colon = memchr(line, ':', len);
    if (colon == NULL) {
        return len;             /* a folded line: libcurl's to judge */
    }
    name_len = (size_t)(colon - line);
    value = colon + 1;
    end = line + len;
    while (value < end && (*value == ' ' || *value == '\t')) {
        value++;
    }
    while (end > value && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    if (name_len == 4 && strncasecmp(line, "ETag", 4) == 0) {
        replace(&t->etag, strndup(value, (size_t)(end - value)));
    }
    else if (name_len == 13 && strncasecmp(line, "Last-Modified", 13) == 0) {
        replace(&t->last_modified, strndup(value, (size_t)(end - value)));
    }
    else if ((name_len == 13 && strncasecmp(line, "Content-Range", 13) == 0
              && !keep_header(&t->content_range, value, (size_t)(end - value)))
             || (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0
                 && !keep_header(&t->content_length, value, (size_t)(end - value)))) {
        return refuse(t, 502, "out of memory for the upstream headers");
    }
    return len;
}

static size_t on_body(char *bytes, size_t size, size_t count, void *arg)
{
    transfer *t = arg;
    size_t n = size * count;
    uint64_t start = t->seen, end = t->seen + n;
    uint64_t limit = t->req->length > 0 ? t->req->length : t->max_body;

    t->seen = end;
    if (t->status == 206 || (t->status == 200 && !t->ranged)) {
        if (end > limit) {
            return refuse(t, 502, t->req->length > 0 ? "upstream sent more bytes than asked for"
                                                     : "upstream object too large");
        }
        return keep(t, bytes, n) ? n : refuse(t, 502, "out of memory for the upstream body");
    }
    if (t->status == 200) {
        /* The server ignored Range: keep [offset, want_end) of the whole object, then stop. Far
           into an object that would mean reading everything before it: refused instead. */
        if ((t->req->length > 0 ? t->want_end : t->req->offset) > t->max_body) {
            return refuse(t, 502, "upstream ignored Range (200 with the whole object) for bytes beyond "
                                  "the first 16 MiB");
        }
        uint64_t lo = start > t->req->offset ? start : t->req->offset;
        uint64_t hi = end < t->want_end ? end : t->want_end;
        if (lo < hi) {
            if (t->body.len + (hi - lo) > limit) {
                return refuse(t, 502, "upstream object too large");
            }
            if (!keep(t, bytes + (lo - start), (size_t)(hi - lo))) {
                return refuse(t, 502, "out of memory for the upstream body");
            }
        }
        if (end >= t->want_end) {
            t->stopped = 1;
            return 0;
        }
        return n;
    }
    /* Any other answer: the start of its body is enough to log. */
    if (n > ORIGO_CURL_MAX_ERROR_BODY - t->body.len) {
        n = ORIGO_CURL_MAX_ERROR_BODY - t->body.len;
        t->stopped = 1;
    }
    if (!keep(t, bytes, n)) {
        return refuse(t, 502, "out of memory for the upstream body");
    }
    return t->stopped ? 0 : n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    transfer *t = arg;
    int64_t now = monotonic_usec();

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (now < t->next_poll) {
        return 0;
    }
    t->next_poll = now + POLL_INTERVAL_USEC;
    if (t->req->client_gone(t->req->client_ctx)) {
        refuse(t, 502, "the client went away");
        return 1;
    }
    return 0;
}

static CURLcode configure(CURL *h, transfer *t, struct curl_slist *headers, char *errbuf)
{
    const origo_curl_request *req = t->req;
    int64_t ms = req->timeout_usec / 1000 + (req->timeout_usec % 1000 != 0);
    CURLcode rc = CURLE_OK;

#define SET(option, value) \
    if (rc == CURLE_OK) rc = curl_easy_setopt(h, option, value)
    SET(CURLOPT_SHARE, share);
    SET(CURLOPT_URL, req->url);
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075400
    /* A timed-out transfer must not wait for a hanging DNS lookup to finish (7.84+). */
    SET(CURLOPT_QUICK_EXIT, 1L);
#endif
    SET(CURLOPT_HTTPGET, 1L);
    SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
#if LIBCURL_VERSION_NUM >= 0x075500   /* 7.85 deprecated the bit masks */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_PATH_AS_IS, 1L);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, t);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SET(CURLOPT_TIMEOUT_MS, (long)(ms < LONG_MAX ? ms : LONG_MAX));
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(ms < LONG_MAX ? ms : LONG_MAX));
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (req->ca_file != NULL) {
        SET(CURLOPT_CAINFO, req->ca_file);
    }
    SET(CURLOPT_PROXY, req->proxy != NULL ? req->proxy : "");
    SET(CURLOPT_MAXCONNECTS, 4L);
    if (!t->ranged) {
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_body);
    }
    if (req->client_gone != NULL) {
        SET(CURLOPT_XFERINFOFUNCTION, on_progress);
        SET(CURLOPT_XFERINFODATA, t);
        SET(CURLOPT_NOPROGRESS, 0L);
    }
#undef SET
    return rc;
}

/* Sets out->error to "upstream <url without query>: <reason>", one printable line. */
static int fail(origo_fetch_result *out, int status, const char *url, const char *reason)
{
    char line[512];
    size_t url_len = url != NULL ? strcspn(url, "?#") : 0, i;

    if (url_len > 200) {
        url_len = 200;
    }
    snprintf(line, sizeof(line), "upstream %.*s: %s", (int)url_len, url != NULL ? url : "",
             reason != NULL && *reason != '\0' ? reason : "fetch failed");
    for (i = 0; line[i] != '\0'; i++) {
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) {
            line[i] = ' ';
        }
    }
    while (i > 0 && line[i - 1] == ' ') {
        line[--i] = '\0';
    }
    out->error = strdup(line);
    return status;
}

/* The answer as received (the engine checks it against its headers); or the failure. */
static int finish(transfer *t, CURLcode rc, const char *errbuf, origo_fetch_result *out)
{
    const origo_curl_request *req = t->req;
    const char *reason = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    int complete = rc == CURLE_OK;

    if (t->fault_status != 0) {
        return fail(out, t->fault_status, req->url, t->fault);
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        return fail(out, 504, req->url, reason);
    }
    if (rc == CURLE_FILESIZE_EXCEEDED && t->status >= 200 && t->status < 300) {
        return fail(out, 502, req->url, "upstream object too large (Content-Length over the limit)");
    }
    /* An error status announcing a body over the limit: its answer is all we need. */
    if (!(complete || (rc == CURLE_WRITE_ERROR && t->stopped) || rc == CURLE_FILESIZE_EXCEEDED)) {
        return fail(out, 502, req->url, reason);
    }
    if (t->status < 200) {
        return fail(out, 502, req->url, "no final upstream answer");
    }
    /* A 200 to a ranged read was cut to the wanted bytes: they start at the offset, or at the
       entity's end when it ended before it. Stopped at the wanted end, it did not end. */
    if (t->status == 200 && t->ranged) {
        out->data_offset = t->seen < req->offset ? t->seen : req->offset;
    }
    out->ended = complete;
    out->status = t->status;
    out->data = t->body.data;
    out->length = t->body.len;
    t->body.data = NULL;
    out->etag = t->etag;
    t->etag = NULL;
    out->content_range = t->content_range;
    t->content_range = NULL;
    out->content_length = t->content_length;
    t->content_length = NULL;
    if (t->last_modified != NULL) {
        time_t when = curl_getdate(t->last_modified, NULL);
        out->last_modified = when > 0 ? (int64_t)when : 0;
    }
    return 0;
}

int origo_curl_fetch(const origo_curl_request *req, origo_fetch_result *out)
{
    transfer t;
    struct curl_slist *headers = NULL, *grown;
    char range[64], range_line[80], errbuf[CURL_ERROR_SIZE];
    const char *const *line;
    CURL *h;
    CURLcode rc;
    long connects = 0;
    int status;

    memset(out, 0, sizeof(*out));
    if (share == NULL) {
        return fail(out, 502, req->url, "libcurl client not initialised");
    }
    if (req->timeout_usec <= 0) {
        return fail(out, 504, req->url, "deadline passed before the request");
    }
    memset(&t, 0, sizeof(t));
    t.req = req;
    t.ranged = req->offset > 0 || req->length > 0;
    t.want_end = req->length > 0 ? req->offset + req->length : UINT64_MAX;
    t.max_body = req->max_body > 0 ? req->max_body : ORIGO_CURL_DEFAULT_MAX_BODY;
    t.body.max = UINT64_MAX;    /* the body callback bounds what it keeps */
    errbuf[0] = '\0';

    /* "Accept:" with no value removes libcurl's default Accept line. */
    grown = headers = curl_slist_append(NULL, "Accept:");
    for (line = req->headers; grown != NULL && line != NULL && *line != NULL; line++) {
        grown = curl_slist_append(headers, *line);
    }
    if (grown != NULL && t.ranged) {
        snprintf(range_line, sizeof(range_line), "Range: %s",
                 origo_range_value(req->offset, req->length, range, sizeof(range)));
        grown = curl_slist_append(headers, range_line);
    }
    h = grown != NULL ? take_handle() : NULL;
    if (h == NULL) {
        curl_slist_free_all(headers);
        return fail(out, 502, req->url, "out of memory for the upstream request");
    }

    rc = configure(h, &t, headers, errbuf);
    if (rc == CURLE_OK) {
        rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    }
    give_back(h, connects);
    curl_slist_free_all(headers);

    status = finish(&t, rc, errbuf, out);
    free(t.body.data);
    free(t.etag);
    free(t.last_modified);
    free(t.content_range);
    free(t.content_length);
    return status;
}
