/*
 * Upstream reads for ism_proxy_pass, and their S3 signatures.
 *
 * The engine calls origo_upstream.fetch on the pool thread. The thread queues a fetch job, wakes
 * the worker's event loop through an eventfd, and waits on a condition variable (bounded by the
 * read's deadline). The loop starts a background subrequest of the main request to the internal
 * location `origo_upstream_location` (whose `proxy_pass $origo_upstream_url;` makes it an nginx
 * upstream read, with proxy_cache, keep-alive upstreams and proxy_ssl_* as configured there). Its
 * request headers are replaced by ours (User-Agent, Range, CDN-Loop, an S3 signature: never the
 * client's); its response never goes downstream: this module's header and body filters, first in
 * the chains, collect it into a malloc'd buffer bounded as mod_glue's readers are, and the
 * post-subrequest handler hands the result to the thread. The loop never waits, so ism_proxy_pass
 * to the same nginx works.
 */
#include "ngx_http_origo.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Largest body of a read without a range (a server manifest, a sidecar subtitle file). */
#define ORIGO_MAX_WHOLE_BODY ((uint64_t) 16 << 20)
/* Error bodies are not kept; at most this much of one is read. */
#define ORIGO_MAX_ERROR_BODY ((uint64_t) 64 << 10)

enum { FETCH_QUEUED, FETCH_RUNNING, FETCH_DONE };

typedef struct origo_fetch_job_s origo_fetch_job_t;

struct origo_fetch_job_s {
    origo_fetch_job_t *next;         /* in the queue */
    ngx_http_origo_task_ctx_t *task; /* the main request's */
    char *url;                       /* as sent (escaped; signed in s3_use_headers off), malloc */
    char *key;                       /* the URL before signing ($origo_upstream_key), malloc */
    char *s3_authorization;          /* s3_use_headers on: the Authorization value, malloc, else NULL */
    char s3_date[17];                /* and its x-amz-date */
    uint64_t offset, length;
    char range[64];                  /* the Range value, "" for a whole object */
    uint64_t deadline_ns;
    int state;
    int thread_gone;                 /* the thread stopped waiting: the loop frees the job */
    ngx_http_request_t *sr;          /* the subrequest reading it, while it runs */
    ngx_event_t timeout;             /* at deadline_ns: nginx's read of it is timed out */

    /* the answer, filled on the loop */
    int rc;                          /* fetch's return value */
    origo_fetch_result result;
    int got_header;
    int decided, keep, sliced, complete, overflow, ignored_range, late;
    uint64_t seen;
    origo_body_buffer body;
};

/* The fetch subrequest's module context: the only requests with one are ours. */
typedef struct {
    origo_fetch_job_t *job;          /* NULL once handed back */
} ngx_http_origo_fetch_ctx_t;

/* One per worker process: the queue from pool threads to the event loop. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t done;             /* broadcast when any job is done */
    origo_fetch_job_t *head, *tail;
    int fd;                          /* eventfd, -1 when upstream reads are unavailable */
    ngx_connection_t *conn;
} fetch_queue = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, -1, NULL };

/* The worker's event-loop thread: a fetch from it would wait for itself (see ngx_http_origo_fetch). */
static pthread_t loop_thread;
static int loop_thread_known;

static ngx_http_output_header_filter_pt ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt ngx_http_next_body_filter;

uint64_t
origo_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int
origo_fail(origo_fetch_result *out, int status, const char *text)
{
    free(out->error);
    out->error = strdup(text != NULL ? text : "upstream fetch failed");
    return status;
}

static void
origo_job_free(origo_fetch_job_t *job)
{
    free(job->url);
    free(job->key);
    free(job->s3_authorization);
    free(job->body.data);
    free(job->result.content_range);
    free(job->result.content_length);
    free(job->result.etag);
    free(job->result.error);
    free(job);
}

/* Query-string signatures are used at once; a little slack for clocks (as mod_glue). */
#define ORIGO_S3_QUERY_EXPIRES 300

/*
 * Runs on the pool thread: signs a job's read with the location's s3_* credentials (AWS Signature
 * Version 4, mod_glue/origo_s3.c). The URL's query came from a manifest or a client, never from the
 * operator: it is dropped, not signed. The Host signed is the URL's, which is what proxy_pass sends
 * (so the upstream location must not set another). Returns 0, or -1 with nothing changed.
 */
static int
ngx_http_origo_s3_sign(ngx_http_origo_loc_conf_t *lcf, origo_fetch_job_t *job)
{
    origo_s3_request req;
    origo_s3_signed sig;
    char *query = strchr(job->url, '?');

    if (query != NULL) {
        *query = '\0';
    }
    ngx_memzero(&req, sizeof(req));
    req.method = "GET";
    req.url = job->url;
    req.payload_hash = ORIGO_S3_EMPTY_SHA256;
    req.when = time(NULL);
    req.mode = lcf->s3_use_headers ? ORIGO_S3_HEADERS : ORIGO_S3_QUERY;
    req.expires = ORIGO_S3_QUERY_EXPIRES;
    if (origo_s3_sign(&lcf->s3, &req, &sig) != ORIGO_S3_OK) {
        return -1;
    }
    if (req.mode == ORIGO_S3_HEADERS) {
        job->s3_authorization = strdup(sig.authorization);
        ngx_memcpy(job->s3_date, sig.amz_date, sizeof(job->s3_date));
        if (job->s3_authorization == NULL) {
            origo_s3_signed_free(&sig);
            return -1;
        }
    } else {
        job->key = job->url;
        job->url = sig.url;
        sig.url = NULL;
    }
    origo_s3_signed_free(&sig);
    return 0;
}

/* Runs on the pool thread (origo_upstream.fetch). */
int
ngx_http_origo_fetch(void *ctx_, const char *url, uint64_t offset, uint64_t length, origo_fetch_result *out)
{
    ngx_http_origo_task_ctx_t *ctx = ctx_;
    ngx_http_origo_loc_conf_t *lcf = ctx->lcf;
    origo_fetch_job_t *job, **pp;
    origo_origin origin;
    uint64_t now = origo_now_ns(), one = 1;
    struct timespec until;
    size_t cap;
    int rc, allowed = 0;
    ngx_uint_t i;

    if (loop_thread_known && pthread_equal(pthread_self(), loop_thread)) {
        /* A no_wait engine call never reads upstream; should one ever try, it must not wait
           here for the loop it is blocking. */
        return origo_fail(out, 500, "upstream read asked for on the event loop");
    }
    if (url == NULL || !origo_origin_parse(url, 0, &origin)) {
        return origo_fail(out, 502, "not an http(s) URL");
    }
    if (origo_origin_equal(&ctx->own, &origin)) {
        allowed = 1;
    }
    if (lcf->allow_hosts != NULL) {
        origo_origin *o = lcf->allow_hosts->elts;
        for (i = 0; i < lcf->allow_hosts->nelts && !allowed; i++) {
            allowed = origo_origin_equal(&o[i], &origin);
        }
    }
    if (!allowed) {
        char text[400];
        snprintf(text, sizeof(text), "%s://%s:%u is not allowed (ism_proxy_pass origin or "
                 "origo_proxy_allow_host)", origin.https ? "https" : "http", origin.host, origin.port);
        return origo_fail(out, 403, text);
    }
    if (now >= ctx->deadline_ns) {
        return origo_fail(out, 504, "the request's upstream deadline (origo_upstream_deadline) passed");
    }
    if (fetch_queue.fd == -1) {
        return origo_fail(out, 502, "upstream reads are unavailable in this worker (eventfd)");
    }
    job = calloc(1, sizeof(*job));
    if (job == NULL) {
        return origo_fail(out, 502, "out of memory");
    }
    cap = strlen(url) * 3 + 1;
    job->url = malloc(cap);
    if (job->url == NULL || origo_url_escape_unsafe(url, job->url, cap) == 0) {
        origo_job_free(job);
        return origo_fail(out, 502, "URL cannot be encoded");
    }
    if (lcf->s3.access_key != NULL && ngx_http_origo_s3_sign(lcf, job) != 0) {
        char text[300];

        snprintf(text, sizeof(text), "S3 signing with access key %s failed", lcf->s3.access_key);
        origo_job_free(job);
        return origo_fail(out, 500, text);
    }
    job->key = job->key != NULL ? job->key : strdup(job->url);
    if (job->key == NULL) {
        origo_job_free(job);
        return origo_fail(out, 502, "out of memory");
    }
    job->task = ctx;
    job->offset = offset;
    job->length = length;
    origo_range_value(offset, length, job->range, sizeof(job->range));
    job->deadline_ns = now + (uint64_t) lcf->upstream_timeout * 1000000u;
    if (job->deadline_ns > ctx->deadline_ns) {
        job->deadline_ns = ctx->deadline_ns;
    }
    job->body.max = length > 0 ? length : ORIGO_MAX_WHOLE_BODY;
    job->state = FETCH_QUEUED;

    pthread_mutex_lock(&fetch_queue.lock);
    if (fetch_queue.tail != NULL) {
        fetch_queue.tail->next = job;
    } else {
        fetch_queue.head = job;
    }
    fetch_queue.tail = job;
    pthread_mutex_unlock(&fetch_queue.lock);
    if (write(fetch_queue.fd, &one, sizeof(one)) != (ssize_t) sizeof(one) && errno != EAGAIN) {
        /* The loop will still find it on its next wake-up, or the wait ends by the deadline. */
    }

    until.tv_sec = (time_t) (job->deadline_ns / 1000000000u);
    until.tv_nsec = (long) (job->deadline_ns % 1000000000u);
    pthread_mutex_lock(&fetch_queue.lock);
    while (job->state != FETCH_DONE) {
        if (pthread_cond_timedwait(&fetch_queue.done, &fetch_queue.lock, &until) == ETIMEDOUT
            && job->state != FETCH_DONE)
        {
            break;
        }
    }
    if (job->state != FETCH_DONE) {
        if (job->state == FETCH_QUEUED) {
            origo_fetch_job_t *prev = NULL;

            for (pp = &fetch_queue.head; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
                if (*pp == job) {
                    *pp = job->next;
                    if (fetch_queue.tail == job) {
                        fetch_queue.tail = prev;
                    }
                    break;
                }
            }
            pthread_mutex_unlock(&fetch_queue.lock);
            origo_job_free(job);
        } else {
            job->thread_gone = 1;    /* the loop frees it when the subrequest ends */
            pthread_mutex_unlock(&fetch_queue.lock);
        }
        return origo_fail(out, 504, "upstream read timed out (origo_upstream_timeout)");
    }
    pthread_mutex_unlock(&fetch_queue.lock);

    rc = job->rc;
    *out = job->result;
    ngx_memzero(&job->result, sizeof(job->result));
    if (rc == 0) {
        out->data = job->body.data;
        out->length = job->body.len;
        job->body.data = NULL;
    }
    origo_job_free(job);
    return rc;
}

/* On the loop: hands a finished job to its thread (or frees it when the thread left). */
static void
ngx_http_origo_job_finish(origo_fetch_job_t *job, int rc, const char *error)
{
    int gone;

    job->rc = rc;
    if (rc != 0) {
        origo_fail(&job->result, rc, error);
    }
    pthread_mutex_lock(&fetch_queue.lock);
    gone = job->thread_gone;
    job->state = FETCH_DONE;
    pthread_cond_broadcast(&fetch_queue.done);
    pthread_mutex_unlock(&fetch_queue.lock);
    if (gone) {
        origo_job_free(job);
    }
}

char *
ngx_http_origo_header_value(ngx_list_t *headers, const char *name)
{
    ngx_list_part_t *part = &headers->part;
    ngx_table_elt_t *h = part->elts;
    size_t nlen = strlen(name), total = 0, n;
    char *value = NULL, *grown;
    ngx_uint_t i;

    for (i = 0; /* void */; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }
            part = part->next;
            h = part->elts;
            i = 0;
            if (part->nelts == 0) {
                continue;
            }
        }
        if (h[i].hash == 0 || h[i].key.len != nlen
            || ngx_strncasecmp(h[i].key.data, (u_char *) name, nlen) != 0)
        {
            continue;
        }
        n = h[i].value.len;
        grown = realloc(value, total + n + 3);
        if (grown == NULL) {
            free(value);
            return NULL;
        }
        value = grown;
        if (total > 0) {
            value[total++] = ',';
            value[total++] = ' ';
        }
        ngx_memcpy(value + total, h[i].value.data, n);
        total += n;
        value[total] = '\0';
    }
    return value;
}

/* The fetch subrequest's header: kept for the engine, never sent anywhere. */
static ngx_int_t
ngx_http_origo_header_filter(ngx_http_request_t *r)
{
    ngx_http_origo_fetch_ctx_t *fctx = ngx_http_get_module_ctx(r, ngx_http_origo_module);
    origo_fetch_job_t *job;
    char num[32];

    if (fctx == NULL) {
        return ngx_http_next_header_filter(r);
    }
    job = fctx->job;
    if (job == NULL || job->got_header) {
        return NGX_OK;
    }
    job->got_header = 1;
    job->result.status = (int) r->headers_out.status;
    job->result.content_range = ngx_http_origo_header_value(&r->headers_out.headers, "Content-Range");
    if (r->headers_out.content_length_n >= 0) {
        ngx_snprintf((u_char *) num, sizeof(num) - 1, "%O%Z", r->headers_out.content_length_n);
        job->result.content_length = strdup(num);
    }
    job->result.etag = ngx_http_origo_header_value(&r->headers_out.headers, "ETag");
    if (r->headers_out.last_modified_time > 0) {
        job->result.last_modified = (int64_t) r->headers_out.last_modified_time;
    }
    return NGX_OK;
}

/* Object bytes [seen, seen + n) of a 200 to a ranged read, cut to the wanted range. */
static void
ngx_http_origo_take(origo_fetch_job_t *job, const u_char *bytes, size_t n)
{
    uint64_t want_end = job->length > 0 ? job->offset + job->length : (uint64_t) -1;

    if (job->sliced) {
        uint64_t start = job->seen, end = job->seen + n;
        uint64_t lo = start > job->offset ? start : job->offset;
        uint64_t hi = end < want_end ? end : want_end;

        if (lo < hi && !origo_body_append(&job->body, (const char *) bytes + (lo - start), (size_t) (hi - lo))) {
            job->overflow = 1;
        }
        if (end >= want_end) {
            job->complete = 1;
        }
    } else if (!origo_body_append(&job->body, (const char *) bytes, n)) {
        job->overflow = 1;
    }
}

static void
ngx_http_origo_take_bytes(ngx_http_request_t *r, origo_fetch_job_t *job, const u_char *bytes, size_t n)
{
    if (job->complete || job->overflow || job->ignored_range || n == 0) {
        return;
    }
    if (!job->decided) {
        job->decided = 1;
        job->keep = job->result.status == NGX_HTTP_OK || job->result.status == NGX_HTTP_PARTIAL_CONTENT;
        job->sliced = job->keep && job->range[0] != '\0' && job->result.status == NGX_HTTP_OK;
        if (job->sliced && (job->length > 0 ? job->offset + job->length : job->offset) > ORIGO_MAX_WHOLE_BODY) {
            job->ignored_range = 1;
            return;
        }
    }
    if (job->keep) {
        ngx_http_origo_take(job, bytes, n);
    } else if (job->seen + n > ORIGO_MAX_ERROR_BODY) {
        job->complete = 1;
    }
    job->seen += n;
    (void) r;
}

static void ngx_http_origo_fetch_end(ngx_http_request_t *r, ngx_http_origo_fetch_ctx_t *fctx, ngx_int_t rc);
static void ngx_http_origo_stop_read(ngx_http_request_t *sr);

/* The fetch subrequest's body: collected, bounded, never sent; handed over as soon as decided. */
static ngx_int_t
ngx_http_origo_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_origo_fetch_ctx_t *fctx = ngx_http_get_module_ctx(r, ngx_http_origo_module);
    origo_fetch_job_t *job;
    ngx_chain_t *cl;
    u_char chunk[16384];

    if (fctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }
    job = fctx->job;
    for (cl = in; cl != NULL; cl = cl->next) {
        ngx_buf_t *b = cl->buf;

        if (job != NULL && b->in_file && !ngx_buf_in_memory(b)) {
            /* a cache hit or a buffered temp file: read it (the page cache, normally) */
            while (b->file_pos < b->file_last && !job->complete && !job->overflow && !job->ignored_range) {
                size_t want = (size_t) ngx_min((off_t) sizeof(chunk), b->file_last - b->file_pos);
                ssize_t got = pread(b->file->fd, chunk, want, b->file_pos);
                if (got <= 0) {
                    job->overflow = 1;
                    break;
                }
                ngx_http_origo_take_bytes(r, job, chunk, (size_t) got);
                b->file_pos += got;
            }
        } else if (job != NULL && ngx_buf_in_memory(b)) {
            ngx_http_origo_take_bytes(r, job, b->pos, (size_t) (b->last - b->pos));
        }
        b->pos = b->last;
        b->file_pos = b->file_last;
    }
    if (job == NULL) {
        return NGX_OK;
    }
    if (origo_now_ns() >= job->deadline_ns && !job->complete) {
        job->late = 1;
    }
    if (job->complete || job->overflow || job->ignored_range || job->late) {
        ngx_http_origo_fetch_end(r, fctx, NGX_OK);
        ngx_http_origo_stop_read(r);
    }
    return NGX_OK;
}

/* Hands a read's answer to its thread, once: afterwards the job is the thread's (or freed). */
static void
ngx_http_origo_fetch_end(ngx_http_request_t *r, ngx_http_origo_fetch_ctx_t *fctx, ngx_int_t rc)
{
    origo_fetch_job_t *job = fctx->job;
    char text[200];

    fctx->job = NULL;
    job->sr = NULL;
    if (job->timeout.timer_set) {
        ngx_del_timer(&job->timeout);
    }
    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "origo: upstream read \"%s\" range \"%s\" done: rc %i, %uz bytes",
                   job->url, job->range, rc, job->body.len);
    if (!job->got_header) {
        snprintf(text, sizeof(text), "no answer from the upstream (nginx said %d; see the error log)", (int) rc);
        ngx_http_origo_job_finish(job, rc == NGX_HTTP_GATEWAY_TIME_OUT ? 504 : 502, text);
    } else if (job->late) {
        ngx_http_origo_job_finish(job, 504, "upstream read deadline passed (origo_upstream_timeout)");
    } else if (job->ignored_range) {
        ngx_http_origo_job_finish(job, 502, "upstream ignored Range (200 with the whole object) for "
                                  "bytes beyond the first 16 MiB");
    } else if (job->overflow) {
        ngx_http_origo_job_finish(job, 502, job->length > 0 ? "upstream body larger than asked for"
                                  : "upstream object larger than 16 MiB");
    } else if (rc != NGX_OK && !job->complete) {
        snprintf(text, sizeof(text), "upstream body broke off (nginx said %d)", (int) rc);
        ngx_http_origo_job_finish(job, 502, text);
    } else {
        if (job->sliced) {
            job->result.data_offset = job->seen < job->offset ? job->seen : job->offset;
        }
        job->result.ended = !job->complete;
        ngx_http_origo_job_finish(job, 0, NULL);
    }
}

/*
 * Ends the upstream read of a subrequest whose answer was handed over before its end (the range
 * arrived in a 200, too many bytes, the deadline): nginx stops reading and closes the storage
 * connection rather than keep it alive. Returning NGX_ERROR from the body filter would do that
 * too, but nginx takes it for the client's connection failing and drops the client. An answer
 * that proxy_cache is storing is left to run to its end, for the cache.
 */
static void
ngx_http_origo_stop_read(ngx_http_request_t *sr)
{
    ngx_http_upstream_t *u = sr->upstream;

    if (u == NULL) {
        return;                      /* a cache hit: nothing is being read */
    }
#if (NGX_HTTP_CACHE)
    if (u->cacheable) {
        return;
    }
#endif
    u->keepalive = 0;
    if (u->buffering && u->pipe != NULL) {
        u->pipe->upstream_error = 1;
    } else {
        u->length = 0;
    }
}

/* The fetch subrequest ended (rc: 0 when its upstream answer was read to the end). */
static ngx_int_t
ngx_http_origo_fetch_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_http_origo_fetch_ctx_t *fctx = data;

    if (r->connection->data == r) {
        /* It was the connection's active request (ngx_http_origo_fetch_start): the main again. */
        r->connection->data = r->main;
    }
    if (fctx->job != NULL) {
        ngx_http_origo_fetch_end(r, fctx, rc);
    }
    /* The subrequest's own end: no error page, and never the main request's termination. */
    return NGX_OK;
}

static ngx_int_t
ngx_http_origo_push_header(ngx_http_request_t *sr, const char *key, const char *lowcase, const char *value,
    ngx_table_elt_t **slot)
{
    ngx_table_elt_t *h = ngx_list_push(&sr->headers_in.headers);

    if (h == NULL) {
        return NGX_ERROR;
    }
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->lowcase_key = (u_char *) lowcase;
    h->hash = ngx_hash_key(h->lowcase_key, h->key.len);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);
    if (slot != NULL) {
        *slot = h;
    }
    return NGX_OK;
}

/* s3_use_headers on: the signature's headers (x-amz-content-sha256 is the empty body's hash). */
static ngx_int_t
ngx_http_origo_push_s3(ngx_http_request_t *sr, ngx_http_origo_loc_conf_t *lcf, origo_fetch_job_t *job)
{
    if (job->s3_authorization == NULL) {
        return NGX_OK;
    }
    if (ngx_http_origo_push_header(sr, "Authorization", "authorization", job->s3_authorization,
                                   &sr->headers_in.authorization) != NGX_OK
        || ngx_http_origo_push_header(sr, "x-amz-date", "x-amz-date", job->s3_date, NULL) != NGX_OK
        || ngx_http_origo_push_header(sr, "x-amz-content-sha256", "x-amz-content-sha256",
                                      ORIGO_S3_EMPTY_SHA256, NULL) != NGX_OK)
    {
        return NGX_ERROR;
    }
    if (lcf->s3.security_token != NULL) {
        return ngx_http_origo_push_header(sr, "x-amz-security-token", "x-amz-security-token",
                                          lcf->s3.security_token, NULL);
    }
    return NGX_OK;
}

/*
 * The read's deadline passed while nginx still reads it (a storage that drips its answer, or
 * holds it): its connection's timers are made to fire now, so nginx's own timeout ends the read
 * (a 504 for the subrequest, "upstream timed out" in the error log) and closes the storage
 * connection, without trying another server of an upstream block. The thread has given up by
 * then (origo_upstream_timeout), or gets the 504 when the subrequest ends.
 */
static void
ngx_http_origo_fetch_timeout(ngx_event_t *ev)
{
    origo_fetch_job_t *job = ev->data;
    ngx_http_upstream_t *u = job->sr != NULL ? job->sr->upstream : NULL;
    ngx_connection_t *pc = u != NULL ? u->peer.connection : NULL;

    job->late = 1;
    if (pc == NULL) {
        return;                      /* not connected (yet): nginx's connect timeout applies */
    }
    u->peer.tries = 1;
    if (pc->read->timer_set) {
        ngx_del_timer(pc->read);
    }
    ngx_add_timer(pc->read, 1);
    if (pc->write->timer_set) {
        ngx_del_timer(pc->write);
        ngx_add_timer(pc->write, 1);
    }
}

/*
 * The request's pool goes while its read never ended (nginx terminated the request, which calls
 * no post-subrequest handler): the job's timer goes with it and the thread gets a 502.
 */
static void
ngx_http_origo_fetch_orphaned(void *data)
{
    ngx_http_origo_fetch_ctx_t *fctx = data;
    origo_fetch_job_t *job = fctx->job;

    if (job == NULL) {
        return;
    }
    fctx->job = NULL;
    job->sr = NULL;
    if (job->timeout.timer_set) {
        ngx_del_timer(&job->timeout);
    }
    ngx_http_origo_job_finish(job, 502, "the request ended before its upstream read");
}

/* On the loop: starts the subrequest of one job. Returns 0 or an HTTP status. */
static int
ngx_http_origo_fetch_start(origo_fetch_job_t *job, const char **why)
{
    ngx_pool_cleanup_t *cln;
    uint64_t now;
    ngx_http_origo_task_ctx_t *ctx = job->task;
    ngx_http_request_t *r = ctx->r, *sr;
    ngx_http_post_subrequest_t *ps;
    ngx_http_origo_fetch_ctx_t *fctx;

    if (r->connection->error) {
        *why = "the client went away";
        return 502;
    }
    fctx = ngx_pcalloc(r->pool, sizeof(*fctx));
    ps = ngx_palloc(r->pool, sizeof(*ps));
    if (fctx == NULL || ps == NULL) {
        *why = "out of memory";
        return 502;
    }
    fctx->job = job;
    ps->handler = ngx_http_origo_fetch_done;
    ps->data = fctx;
    if (ngx_http_subrequest(r, &ctx->lcf->upstream_location, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_BACKGROUND) != NGX_OK)
    {
        *why = "nginx refused the subrequest";
        return 502;
    }
    ngx_http_set_ctx(sr, fctx, ngx_http_origo_module);
    /* Only what we decide goes upstream: none of the client's headers. */
    ngx_memzero(&sr->headers_in, sizeof(sr->headers_in));
    if (ngx_list_init(&sr->headers_in.headers, r->pool, 4, sizeof(ngx_table_elt_t)) != NGX_OK
        || ngx_http_origo_push_header(sr, "User-Agent", "user-agent", ctx->user_agent,
                                      &sr->headers_in.user_agent) != NGX_OK
        || ngx_http_origo_push_header(sr, "CDN-Loop", "cdn-loop", ctx->cdn_loop, NULL) != NGX_OK
        || (job->range[0] != '\0'
            && ngx_http_origo_push_header(sr, "Range", "range", job->range, &sr->headers_in.range) != NGX_OK)
        || ngx_http_origo_push_s3(sr, ctx->lcf, job) != NGX_OK)
    {
        /* The subrequest still runs (to no URL: an error nobody reads); the job is not its any more. */
        fctx->job = NULL;
        *why = "out of memory";
        return 502;
    }
    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;
    sr->header_only = 0;
    /*
     * The connection's active request: nginx's buffered upstream (the event pipe) passes body
     * bytes on only to the active request, and would otherwise keep the whole answer in its
     * buffers and temporary file until the end. The main request is blocked meanwhile (its
     * thread waits for this read); ngx_http_origo_fetch_done and ngx_http_origo_task_done give
     * the connection back to it.
     */
    if (r->connection->data == r) {
        r->connection->data = sr;
    }
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        fctx->job = NULL;
        *why = "out of memory";
        return 502;
    }
    cln->handler = ngx_http_origo_fetch_orphaned;
    cln->data = fctx;
    job->sr = sr;
    job->timeout.handler = ngx_http_origo_fetch_timeout;
    job->timeout.data = job;
    job->timeout.log = r->connection->log;
    now = origo_now_ns();
    ngx_add_timer(&job->timeout, job->deadline_ns > now ? (ngx_msec_t) ((job->deadline_ns - now) / 1000000u) + 1 : 1);
    return 0;
}

/* The eventfd is readable: start the subrequests of every queued job. */
static void
ngx_http_origo_fetch_notified(ngx_event_t *ev)
{
    ngx_connection_t *c = ev->data;
    origo_fetch_job_t *job, *next;
    uint64_t count;
    const char *why;
    int rc;

    while (read(fetch_queue.fd, &count, sizeof(count)) == (ssize_t) sizeof(count)) {
        /* drained */
    }
    pthread_mutex_lock(&fetch_queue.lock);
    job = fetch_queue.head;
    fetch_queue.head = fetch_queue.tail = NULL;
    for (next = job; next != NULL; next = next->next) {
        next->state = FETCH_RUNNING;
    }
    pthread_mutex_unlock(&fetch_queue.lock);

    for (; job != NULL; job = next) {
        ngx_connection_t *rc_conn = job->task->r->connection;

        next = job->next;
        job->next = NULL;
        why = NULL;
        rc = ngx_http_origo_fetch_start(job, &why);
        if (rc != 0) {
            ngx_http_origo_job_finish(job, rc, why);
            continue;
        }
        ngx_http_run_posted_requests(rc_conn);
    }
    (void) c;
}

/* Each worker: the eventfd the pool threads wake the loop with. */
ngx_int_t
ngx_http_origo_fetch_init(ngx_cycle_t *cycle)
{
    ngx_connection_t *c;
    pthread_condattr_t attr;
    int fd;

    loop_thread = pthread_self();
    loop_thread_known = 1;
    /* The waits' deadlines are CLOCK_MONOTONIC (origo_now_ns). */
    if (pthread_condattr_init(&attr) != 0 || pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0
        || pthread_cond_init(&fetch_queue.done, &attr) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0, ORIGO_LOGNO(10904)
                      "cannot set up the upstream wait: ism_proxy_pass reads will fail with 502");
        return NGX_OK;
    }
    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    if (fd == -1) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_errno, ORIGO_LOGNO(10904)
                      "eventfd() failed: ism_proxy_pass reads will fail with 502");
        return NGX_OK;
    }
    c = ngx_get_connection(fd, cycle->log);
    if (c == NULL) {
        close(fd);
        return NGX_OK;
    }
    c->recv = NULL;
    c->read->handler = ngx_http_origo_fetch_notified;
    c->read->data = c;
    c->read->log = cycle->log;
    /* Not a client connection: a worker shutting down does not wait for it. */
    c->read->channel = 1;
    if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_CLEAR_EVENT) != NGX_OK) {
        ngx_free_connection(c);
        close(fd);
        return NGX_OK;
    }
    fetch_queue.fd = fd;
    fetch_queue.conn = c;
    return NGX_OK;
}

/*
 * $origo_upstream_url: the URL of the fetch subrequest's read, signed when s3_* say so;
 * $origo_upstream_key: the same before signing (a proxy_cache_key that stays the same from one
 * signature to the next). Both empty elsewhere.
 */
static ngx_int_t
ngx_http_origo_url_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_origo_fetch_ctx_t *fctx = ngx_http_get_module_ctx(r, ngx_http_origo_module);
    const char *value;

    if (fctx == NULL || fctx->job == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }
    value = data ? fctx->job->key : fctx->job->url;
    v->data = (u_char *) value;
    v->len = ngx_strlen(value);
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

/* The module's preconfiguration: $origo_upstream_url and $origo_upstream_key. */
ngx_int_t
ngx_http_origo_upstream_variables(ngx_conf_t *cf)
{
    static ngx_str_t names[] = { ngx_string("origo_upstream_url"), ngx_string("origo_upstream_key") };
    ngx_http_variable_t *var;
    ngx_uint_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        var = ngx_http_add_variable(cf, &names[i], NGX_HTTP_VAR_NOCACHEABLE);
        if (var == NULL) {
            return NGX_ERROR;
        }
        var->get_handler = ngx_http_origo_url_variable;
        var->data = i;
    }
    return NGX_OK;
}

/* First in both output filter chains: the upstream reads' answers stop here. */
void
ngx_http_origo_upstream_filters(void)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_origo_header_filter;
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_origo_body_filter;
}
