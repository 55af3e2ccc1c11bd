/*
 * request_rec -> origo_request, and origo_response -> headers + bucket brigade.
 */
#include "origo_bridge.h"
#include "origo_url.h"

#include "apr_buckets.h"
#include "apr_file_io.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include <string.h>

APLOG_USE_MODULE(origo);

/* Whether the request's configuration lets media files be mapped (`EnableMMAP`, on by default):
   for the file buckets below, and for the engine, which then reads the media it repackages into
   TS from mappings instead of with pread. */
static int mmap_allowed(request_rec *r)
{
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    return core->enable_mmap != ENABLE_MMAP_OFF;
}

void origo_bridge_make_request(request_rec *r, const origo_dir_config *conf, origo_request *out)
{
    const char *vpath = r->path_info != NULL ? r->path_info : "";

    if (*vpath == '/') {
        vpath++;
    }
    out->method = r->method;
    out->manifest_path = r->filename;
    out->virtual_path = vpath;
    out->query = r->args;
    out->uri = r->uri;
    out->max_index_bytes = conf != NULL ? conf->max_index_bytes : 0;
    out->upstream = NULL;
    out->map_files = mmap_allowed(r);
    out->no_wait = 0;            /* Apache's threads may block */
    out->file_check_interval_ms = origo_config_file_check_ms(conf);
    out->manifest_stat = NULL;
    /* The directory walk stat'ed the server manifest already (r->finfo); the engine uses that. */
    if (r->finfo.filetype == APR_REG && (r->finfo.valid & (APR_FINFO_SIZE | APR_FINFO_MTIME))
                                        == (APR_FINFO_SIZE | APR_FINFO_MTIME)) {
        origo_file_stat *st = apr_palloc(r->pool, sizeof(*st));
        st->size = r->finfo.size > 0 ? (apr_uint64_t)r->finfo.size : 0;
        st->mtime_sec = (int64_t)apr_time_sec(r->finfo.mtime);
        st->mtime_nsec = (int64_t)(r->finfo.mtime % APR_USEC_PER_SEC) * 1000;
        out->manifest_stat = st;
    }
    if (conf != NULL) {
        memcpy(out->live_fragment_status, conf->live_fragment_status, sizeof(out->live_fragment_status));
    }
}

/* Pool cleanup: gives the response back to the engine when the request is done. */
static apr_status_t response_cleanup(void *data)
{
    origo_response_free(data);
    return APR_SUCCESS;
}

/* Checks the pieces before anything is sent, so a broken answer becomes a clean 500. */
static int pieces_are_consistent(request_rec *r, const origo_response *resp)
{
    apr_uint64_t total = 0;
    size_t i;

    if (resp->piece_count > 0 && resp->pieces == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10101)
                      "engine returned %" APR_SIZE_T_FMT " pieces without a piece array for %s",
                      resp->piece_count, r->uri);
        return 0;
    }
    for (i = 0; i < resp->piece_count; i++) {
        const origo_piece *piece = &resp->pieces[i];
        if (piece->data == NULL && piece->file_path == NULL && piece->length > 0) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10102)
                          "engine returned piece %" APR_SIZE_T_FMT " with neither data nor file for %s",
                          i, r->uri);
            return 0;
        }
        if (piece->length > APR_UINT64_C(0x7fffffffffffffff) - total) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10103)
                          "engine returned a body too large to send for %s", r->uri);
            return 0;
        }
        total += piece->length;
    }
    if (total != resp->content_length) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10104)
                      "engine content_length %" APR_UINT64_T_FMT " differs from its pieces (%"
                      APR_UINT64_T_FMT ") for %s", resp->content_length, total, r->uri);
        return 0;
    }
    return 1;
}

/* Files opened for one response, so that pieces alternating between a few files open each once. */
#define ORIGO_OPEN_FILES 8

typedef struct open_file {
    const char *path;
    apr_file_t *fd;
    apr_uint64_t size;
} open_file;

typedef struct open_files {
    open_file files[ORIGO_OPEN_FILES];
    int count;
    int next_victim;    /* round-robin slot to reuse when the table is full */
} open_files;

/*
 * Media files are sent as Apache sends static files under the request's configuration:
 * `EnableSendfile On` lets the core use sendfile (off by default, as in Apache), and
 * `EnableMMAP Off` keeps it from mapping them (for storage where files change under a request).
 */
static apr_int32_t sendfile_flag(request_rec *r)
{
#if APR_HAS_SENDFILE
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    return core->enable_sendfile == ENABLE_SENDFILE_ON ? APR_FOPEN_SENDFILE_ENABLED : 0;
#else
    (void)r;
    return 0;
#endif
}

/*
 * Finds or opens a file piece's file and checks that the range lies inside the file, so a
 * truncated source never yields a short body. On success *fd is the file to send from.
 */
static int open_piece_file(request_rec *r, const origo_piece *piece, open_files *files,
                           apr_file_t **fd)
{
    apr_status_t rv;
    apr_finfo_t finfo;
    open_file *slot = NULL;
    int i;

    for (i = 0; i < files->count; i++) {
        if (strcmp(files->files[i].path, piece->file_path) == 0) {
            slot = &files->files[i];
            break;
        }
    }
    if (slot == NULL) {
        if (files->count < ORIGO_OPEN_FILES) {
            slot = &files->files[files->count++];
        }
        else {
            /* The old descriptor stays open (buckets may use it) until the request pool goes. */
            slot = &files->files[files->next_victim];
            files->next_victim = (files->next_victim + 1) % ORIGO_OPEN_FILES;
        }
        slot->path = piece->file_path;
        slot->fd = NULL;
        rv = apr_file_open(&slot->fd, piece->file_path, APR_FOPEN_READ | sendfile_flag(r), APR_OS_DEFAULT,
                           r->pool);
        if (rv == APR_SUCCESS) {
            rv = apr_file_info_get(&finfo, APR_FINFO_SIZE, slot->fd);
        }
        if (rv != APR_SUCCESS) {
            slot->path = "";
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, ORIGO_LOGNO(10105)
                          "cannot open media file %s for %s", piece->file_path, r->uri);
            return APR_STATUS_IS_ENOENT(rv) ? HTTP_NOT_FOUND : HTTP_INTERNAL_SERVER_ERROR;
        }
        slot->size = finfo.size > 0 ? (apr_uint64_t)finfo.size : 0;
    }
    if (piece->length > slot->size || piece->file_offset > slot->size - piece->length) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10107)
                      "range %" APR_UINT64_T_FMT "+%" APR_UINT64_T_FMT " is outside media file %s (%"
                      APR_UINT64_T_FMT " bytes) for %s", piece->file_offset, piece->length,
                      piece->file_path, slot->size, r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    *fd = slot->fd;
    return OK;
}

/* A file range waiting to become a bucket, so that contiguous pieces merge into one. */
typedef struct pending_range {
    apr_file_t *fd;
    apr_uint64_t offset;
    apr_uint64_t length;
} pending_range;

static void flush_range(request_rec *r, apr_bucket_brigade *bb, pending_range *pending)
{
    if (pending->fd != NULL && pending->length > 0) {
        apr_bucket *last = APR_BRIGADE_EMPTY(bb) ? NULL : APR_BRIGADE_LAST(bb);
        apr_bucket *b;
        int mmap = mmap_allowed(r);

        apr_brigade_insert_file(bb, pending->fd, (apr_off_t)pending->offset,
                                (apr_off_t)pending->length, r->pool);
        /* A long range may have become several buckets: all of them follow the directive. */
        for (b = last != NULL ? APR_BUCKET_NEXT(last) : APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            if (APR_BUCKET_IS_FILE(b)) {
                apr_bucket_file_enable_mmap(b, mmap);
            }
        }
    }
    pending->fd = NULL;
    pending->length = 0;
}

/*
 * Builds the body: generated bytes become pool buckets over the engine's memory (which lives until
 * the request pool's cleanup frees the response; a pool bucket copies itself to the heap first if
 * it outlives the pool), file ranges become file buckets that the core sends like static files
 * (sendfile with `EnableSendfile On`, else mapped or read). Consecutive ranges that continue each
 * other in the same file become one bucket (one sendfile).
 */
static int build_body(request_rec *r, const origo_response *resp, apr_bucket_brigade *bb)
{
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    open_files files;
    apr_file_t *fd = NULL;
    pending_range pending = { NULL, 0, 0 };
    size_t i;

    files.count = 0;
    files.next_victim = 0;
    for (i = 0; i < resp->piece_count; i++) {
        const origo_piece *piece = &resp->pieces[i];
        if (piece->length == 0) {
            continue;
        }
        if (piece->data != NULL) {
            if (piece->length > APR_SIZE_MAX) {
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            flush_range(r, bb, &pending);
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_pool_create((const char *)piece->data,
                                                               (apr_size_t)piece->length,
                                                               r->pool, ba));
        }
        else {
            int rc = open_piece_file(r, piece, &files, &fd);
            if (rc != OK) {
                return rc;
            }
            /* open_piece_file checked offset + length against the file size: no overflow. */
            if (pending.fd == fd && pending.offset + pending.length == piece->file_offset) {
                pending.length += piece->length;
                continue;
            }
            flush_range(r, bb, &pending);
            pending.fd = fd;
            pending.offset = piece->file_offset;
            pending.length = piece->length;
        }
    }
    flush_range(r, bb, &pending);
    return OK;
}

/* The engine's further headers ("Name: value\n" lines): in err_headers_out, so that error
   answers carry them too. */
static void add_engine_headers(request_rec *r, const origo_response *resp)
{
    const char *cursor = resp->headers, *name, *value;
    size_t name_len, value_len;

    while (origo_next_header(&cursor, &name, &name_len, &value, &value_len)) {
        apr_table_setn(r->err_headers_out, apr_pstrmemdup(r->pool, name, name_len),
                       apr_pstrmemdup(r->pool, value, value_len));
    }
}

static int respond_error(request_rec *r, const origo_response *resp)
{
    add_engine_headers(r, resp);
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10110) "%d for %s: %s",
                  resp->status, r->uri,
                  resp->log_reason != NULL ? resp->log_reason : "(no reason given)");
    return resp->status;
}

static void set_headers(request_rec *r, const origo_response *resp)
{
    /* mod_mime typed the request after the manifest's extension (.mp4, ...): always override. */
    ap_set_content_type(r, resp->content_type != NULL ? apr_pstrdup(r->pool, resp->content_type)
                                                      : "application/octet-stream");
    if (resp->etag != NULL) {
        apr_table_setn(r->headers_out, "ETag", apr_pstrdup(r->pool, resp->etag));
    }
    if (resp->last_modified > 0) {
        ap_update_mtime(r, apr_time_from_sec(resp->last_modified));
        ap_set_last_modified(r);
    }
    add_engine_headers(r, resp);
}

int origo_bridge_respond(request_rec *r, origo_response *resp)
{
    apr_bucket_brigade *bb;
    int rc;

    if (resp == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10111)
                      "engine returned no response for %s", r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* From here on the request pool owns the response. */
    apr_pool_cleanup_register(r->pool, resp, response_cleanup, apr_pool_cleanup_null);

    if (resp->status >= 400 && resp->status <= 599) {
        return respond_error(r, resp);
    }
    if (resp->status < 200 || resp->status > 299) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10112)
                      "engine returned unsupported status %d for %s", resp->status, r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!pieces_are_consistent(r, resp)) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    set_headers(r, resp);
    rc = ap_meets_conditions(r);
    if (rc != OK) {
        return rc;
    }
    r->status = resp->status;
    ap_set_content_length(r, (apr_off_t)resp->content_length);

    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    if (!r->header_only) {
        rc = build_body(r, resp, bb);
        if (rc != OK) {
            apr_brigade_destroy(bb);
            return rc;
        }
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    return ap_pass_brigade_fchk(r, bb, ORIGO_LOGNO(10113) "sending the response for %s failed",
                                r->uri);
}

int origo_bridge_get_only(request_rec *r)
{
    /* The list feeds both Allow on 405 and the core's OPTIONS answer. */
    ap_allow_methods(r, REPLACE_ALLOW, "GET", "OPTIONS", NULL);
    if (r->method_number == M_OPTIONS) {
        return DECLINED;
    }
    return r->method_number == M_GET ? OK : HTTP_METHOD_NOT_ALLOWED;
}
