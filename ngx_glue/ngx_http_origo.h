/*
 * What the two files of ngx_http_origo_module share: the configuration, one request's trip to the
 * thread pool, and the upstream reads' entry points (ngx_http_origo_upstream.c).
 */
#ifndef NGX_HTTP_ORIGO_H
#define NGX_HTTP_ORIGO_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <stdint.h>

#include "origo_engine.h"
#include "origo_url.h"          /* mod_glue's pure C: body buffer, Range values, origins, CDN-Loop */
#include "origo_s3.h"           /* mod_glue's pure C: AWS Signature Version 4 */

#if !(NGX_THREADS)
#error "ngx_http_origo_module needs nginx built --with-threads (Debian's is)"
#endif

/* The same message numbers as mod_glue where the meaning is the same (mod_glue/README.md). */
#define ORIGO_LOGNO(n) "ORIGO" #n ": "

/* Distinct files one response may send from that the worker thread opens (more are opened on the
   event loop; engine answers reference one or two). */
#define ORIGO_TASK_FILES 8

typedef struct {
    off_t index_cache_size;          /* origo_index_cache_size (http only), NGX_CONF_UNSET: engine default */
    ngx_str_t index_store_dir;       /* origo_index_cache_dir (http only): the host's index store; empty: off */
    off_t index_store_size;          /* origo_index_cache_dir_size, NGX_CONF_UNSET: engine default */
} ngx_http_origo_main_conf_t;

typedef struct {
    ngx_flag_t handle_ism;           /* usp_handle_ism */
    off_t max_index_size;            /* origo_max_index_size, 0 = engine default */
    ngx_str_t thread_pool_name;      /* origo_thread_pool, "default" unless set */
    ngx_thread_pool_t *thread_pool;
    ngx_flag_t try_loop;             /* origo_answer_on_loop: a no_wait engine call first */
    ngx_msec_t file_check;           /* origo_file_check_interval: 0 = every request */
    ngx_str_t proxy_pass;            /* ism_proxy_pass */
    ngx_str_t upstream_location;     /* origo_upstream_location: the internal proxy_pass location */
    ngx_msec_t upstream_timeout;     /* origo_upstream_timeout: one upstream read */
    ngx_msec_t upstream_deadline;    /* origo_upstream_deadline: all reads of one request */
    ngx_int_t max_hops;              /* origo_max_hops: CDN-Loop count refused with 508 */
    ngx_array_t *allow_hosts;        /* origo_proxy_allow_host: origo_origin */
    ngx_str_t s3_access_key;         /* s3_*: upstream reads are signed (as S3AccessKey, ...) */
    ngx_str_t s3_secret_key;
    ngx_str_t s3_region;
    ngx_str_t s3_security_token;
    ngx_flag_t s3_use_headers;
    origo_s3_credentials s3;         /* made at merge: NUL-terminated, access_key NULL when unsigned */
    char *s3_scope;                  /* " s3=<key>/<region>/<fingerprint>" for the engine's cache scope, or "" */
    /* fmp4_{iss,hds,hls,mpd}_fragment_{not_found,missing,not_available} (Fmp4…Fragment…): statuses
       for live fragments outside the window, in origo_request.live_fragment_status order; 0 = default */
    ngx_int_t live_fragment_status[ORIGO_LIVE_STATUS_COUNT];
} ngx_http_origo_loc_conf_t;

/* A file the response sends from, opened by the worker thread. */
typedef struct {
    const char *path;                /* the engine's piece path (lives with the response) */
    int fd;                          /* -1: not opened */
    int error;                       /* errno of a failed open/fstat, else 0 */
    uint64_t size;
} origo_task_file;

/*
 * One request's trip to the thread pool. Everything here is prepared on the event loop from the
 * request pool, used by the thread only while the request is blocked (r->main->blocked), and read
 * back on the event loop after the task completes. The thread never touches the pool or the log.
 */
typedef struct {
    ngx_http_request_t *r;
    char *path;                      /* root + URI, NUL-terminated; the thread cuts it at the manifest */
    size_t tail;                     /* offset in path of the URI part (after the root) */
    char *uri;                       /* r->uri, NUL-terminated (logs, origo_request.uri) */
    char *query;                     /* r->args, NUL-terminated, or NULL */
    char *method;
    int head;                        /* HEAD: no body, so no files to open */
    uint64_t max_index_bytes;
    int file_check_ms;               /* origo_request.file_check_interval_ms */

    /* results of the thread */
    int found;                       /* the manifest was looked up (path cut, virtual_path set) */
    int status;                      /* 0: the engine answered (response); else an HTTP status */
    int stat_errno;
    const char *virtual_path;
    origo_file_stat manifest_stat;   /* what the walk found at the cut path */
    origo_response *response;
    origo_task_file files[ORIGO_TASK_FILES];
    int file_count;
    uint64_t engine_usec;            /* time in origo_handle (the debug log shows it) */

    /* ism_proxy_pass: the upstream the engine reads through (NULL: local files only) */
    ngx_http_origo_loc_conf_t *lcf;
    char *manifest_url;              /* ism_proxy_pass URL + the manifest's name */
    origo_upstream upstream;
    origo_origin own;                /* ism_proxy_pass's origin */
    char *cdn_loop;                  /* our CDN-Loop value: one "origo" per hop, this one too */
    char *user_agent;                /* "Origo/<version>" */
    char *scope;                     /* origo_upstream.scope */
    uint64_t deadline_ns;            /* CLOCK_MONOTONIC: all reads of this request end by then */

    /* A timer while the task runs: a worker shutting down gracefully waits until no timer is left,
       and without one it would exit with the request still in the pool. */
    ngx_event_t guard;
} ngx_http_origo_task_ctx_t;

/* How often a task that is still running is reported (and the guard timer re-armed). */
#define ORIGO_TASK_GUARD_MSEC 30000

/* The CDN-Loop token of one pass through Origo. */
#define ORIGO_LOOP_TOKEN "origo"

extern ngx_module_t ngx_http_origo_module;

/* The request's URI as log lines show it (cut so that nginx's line limit keeps the reason). */
ngx_str_t *ngx_http_origo_log_uri(ngx_http_request_t *r, ngx_str_t *out);

/* ngx_http_origo_upstream.c: reads for ism_proxy_pass. */
int ngx_http_origo_fetch(void *ctx, const char *url, uint64_t offset, uint64_t length, origo_fetch_result *out);
ngx_int_t ngx_http_origo_fetch_init(ngx_cycle_t *cycle);
ngx_int_t ngx_http_origo_upstream_variables(ngx_conf_t *cf);
void ngx_http_origo_upstream_filters(void);
char *ngx_http_origo_header_value(ngx_list_t *headers, const char *name);
uint64_t origo_now_ns(void);

#endif
