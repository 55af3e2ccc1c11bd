/*
 * Live ingest plumbing: the request body, read as it arrives with bounded reads (64 KiB at a
 * time, OrigoIngestIdleTimeout between bytes), goes to the engine chunk by chunk; the engine
 * bounds what it buffers (OrigoIngestMaxFragmentSize) and answers. See docs/LIVE.md.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"

#include <string.h>
#include <strings.h>

#include "origo_bridge.h"
#include "origo_engine.h"
#include "origo_ingest.h"

extern module AP_MODULE_DECLARE_DATA origo_module;
APLOG_USE_MODULE(origo);

#define INGEST_READ_BYTES 65536

int origo_ingest_wanted(const request_rec *r)
{
    const char *name, *dot;

    if (r->method_number != M_POST && r->method_number != M_PUT) {
        return 0;
    }
    if (r->filename == NULL || r->path_info == NULL || r->path_info[0] != '/' || r->path_info[1] == '\0') {
        return 0;
    }
    name = strrchr(r->filename, '/');
    name = name != NULL ? name + 1 : r->filename;
    dot = strrchr(name, '.');
    return dot != NULL && dot != name && strcasecmp(dot, ".isml") == 0;
}

/* The encoder may keep sending after we stopped reading: never try to drain it. */
static void close_after(request_rec *r)
{
    r->connection->keepalive = AP_CONN_CLOSE;
}

int origo_ingest_handler(request_rec *r, const origo_dir_config *conf, int engine_ready)
{
    origo_ingest_request request;
    origo_ingest *ingest;
    origo_response *response;
    apr_bucket_brigade *bb;
    apr_socket_t *socket;
    apr_off_t received = 0;
    int status = 0, complete = 0, seen_eos = 0;
    apr_status_t rv = APR_SUCCESS;

    if (!origo_config_live_ingest(conf)) {
        close_after(r);
        ap_allow_methods(r, REPLACE_ALLOW, "GET", "OPTIONS", NULL);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10601)
                      "%s %s: live ingest is not enabled here (OrigoLiveIngest on)", r->method, r->uri);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!engine_ready) {
        close_after(r);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10602)
                      "engine not initialised in this process; refusing ingest to %s", r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    memset(&request, 0, sizeof(request));
    request.method = r->method;
    request.manifest_path = r->filename;
    request.virtual_path = r->path_info + 1;
    request.uri = r->uri;
    request.max_fragment_bytes = conf->ingest_max_fragment_bytes;

    ingest = origo_ingest_begin(&request, &status);
    if (ingest == NULL) {
        close_after(r);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* Time between bytes: the socket's timeout bounds every blocking read below. */
    socket = ap_get_conn_socket(r->connection);
    if (socket != NULL) {
        apr_socket_timeout_set(socket, origo_config_ingest_idle_timeout(conf));
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (status == 0 && !seen_eos) {
        apr_bucket *b;

        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES, APR_BLOCK_READ, INGEST_READ_BYTES);
        if (rv != APR_SUCCESS) {
            break;
        }
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb) && status == 0; b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t length;

            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(b)) {
                continue;
            }
            rv = apr_bucket_read(b, &data, &length, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                break;
            }
            received += (apr_off_t)length;
            status = origo_ingest_chunk(ingest, (const uint8_t *)data, length);
        }
        apr_brigade_cleanup(bb);
        if (rv != APR_SUCCESS) {
            break;
        }
    }
    complete = status == 0 && seen_eos;
    if (status != 0 || !complete) {
        close_after(r);
    }
    response = origo_ingest_end(ingest, complete);
    if (status == 0 && !seen_eos) {
        /* The client went away, stalled or sent a broken chunk: the stream keeps what it committed. */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, ORIGO_LOGNO(10603)
                      "ingest to %s ended without the end of its body after %" APR_OFF_T_FMT " bytes "
                      "(%s; idle timeout %" APR_TIME_T_FMT " s)", r->uri, received,
                      APR_STATUS_IS_TIMEUP(rv) ? "timed out" : "read failed",
                      apr_time_sec(origo_config_ingest_idle_timeout(conf)));
        if (response != NULL) {
            origo_response_free(response);
        }
        if (rv == AP_FILTER_ERROR) {
            return AP_FILTER_ERROR;    /* an input filter (LimitRequestBody, chunk syntax) answered */
        }
        return APR_STATUS_IS_TIMEUP(rv) ? HTTP_REQUEST_TIME_OUT : HTTP_BAD_REQUEST;
    }
    if (response != NULL && response->status < 400) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, ORIGO_LOGNO(10604)
                      "ingest to %s ended after %" APR_OFF_T_FMT " bytes", r->uri, received);
    }
    return origo_bridge_respond(r, response);
}
