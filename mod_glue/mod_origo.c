/*
 * mod_origo: just-in-time video packaging for Apache httpd 2.4.
 *
 * This file is the table of contents: the module record, the hooks and the handler's decision
 * whether a request is ours. Directives live in origo_config.c, request/response plumbing in
 * origo_bridge.c, and everything about media in the Swift engine (origo_engine.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr; apxs already defines it */
#endif

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_strings.h"
#include "unixd.h"

#include <dlfcn.h>
#include <errno.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>

#include "origo_bridge.h"
#include "origo_config.h"
#include "origo_engine.h"
#include "origo_ingest.h"
#include "origo_metrics.h"
#include "origo_s3_apache.h"
#include "origo_upstream.h"
#include "origo_curl.h"

/* AP_DECLARE_MODULE at the end of this file also declares the log module index. */
extern module AP_MODULE_DECLARE_DATA origo_module;

/* Set in child_init once the engine answered with our ABI version. Per process. */
static int engine_ready = 0;

/* Whether the engine serves a file of this name (the engine owns the list of extensions): only
   the last path segment is asked about, so this costs little on every request. */
static int engine_serves(const char *filename)
{
    const char *name = filename != NULL ? strrchr(filename, '/') : NULL;

    name = name != NULL ? name + 1 : filename;
    return name != NULL && *name != '\0' && origo_manifest_length(name) == strlen(name);
}

/*
 * The Swift runtime cannot be unloaded, and httpd unloads modules on every restart. The engine is
 * linked with -z nodelete; marking it RTLD_NODELETE from here as well keeps it pinned even if a
 * build forgets the flag.
 */
static void pin_engine(apr_pool_t *plog)
{
    Dl_info info;
    void *handle;

    memset(&info, 0, sizeof(info));
    if (dladdr((void *)&origo_handle, &info) == 0 || info.dli_fname == NULL) {
        ap_log_perror(APLOG_MARK, APLOG_WARNING, 0, plog, ORIGO_LOGNO(10001)
                      "cannot locate the engine library to pin it");
        return;
    }
    handle = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
    if (handle == NULL) {
        ap_log_perror(APLOG_MARK, APLOG_WARNING, 0, plog, ORIGO_LOGNO(10002)
                      "cannot pin the engine library %s: %s", info.dli_fname, dlerror());
    }
    /* The extra reference is deliberately kept: it is what pins the library. */
}

static int origo_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)pconf; (void)plog; (void)ptemp;
    origo_config_reset();
    return OK;
}

/* OrigoIndexCacheDir: made here while the parent may still be root, and given to the User the
   children run as, so that they can write it (they create it themselves otherwise). */
static void prepare_index_store(apr_pool_t *ptemp, server_rec *s)
{
    const char *dir = origo_config_index_store_dir();
    apr_status_t rv;

    if (dir == NULL) {
        return;
    }
    rv = apr_dir_make_recursive(dir, APR_FPROT_OS_DEFAULT, ptemp);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, ORIGO_LOGNO(10013)
                     "OrigoIndexCacheDir %s cannot be created: indexes are parsed by every child", dir);
        return;
    }
    if (geteuid() == 0 && chown(dir, ap_unixd_config.user_id, ap_unixd_config.group_id) != 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, ORIGO_LOGNO(10014)
                     "OrigoIndexCacheDir %s cannot be given to the server's User", dir);
    }
}

static int origo_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf;
    /* Nothing of the engine runs in the parent: no Swift threads may exist before the fork. */
    pin_engine(plog);
    origo_metrics_post_config(s, plog);
    prepare_index_store(ptemp, s);
    return OK;
}

static apr_status_t curl_cleanup(void *unused)
{
    (void)unused;
    origo_curl_child_exit();
    return APR_SUCCESS;
}

/*
 * A request that already passed through an Origo `OrigoMaxHops` times (the "origo" tokens of its
 * CDN-Loop header, which every upstream read adds) is part of a loop: IsmProxyPass or a manifest's
 * src pointing back at an origin. Refused before it makes reads of its own.
 */
static int refuse_loop(request_rec *r, const origo_dir_config *conf)
{
    int hops = origo_upstream_hops(r);

    if (hops < origo_config_max_hops(conf)) {
        return OK;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10009)
                  "%s has passed through Origo %d times (CDN-Loop; OrigoMaxHops %d): refused as a loop; "
                  "check IsmProxyPass and the src of its server manifest", r->uri, hops,
                  origo_config_max_hops(conf));
    return HTTP_LOOP_DETECTED;
}

/* What child_init configured the engine with. */
static origo_engine_config engine_config;

/* The child ends after its last request: what its caches hold leaves the shared gauges. */
static apr_status_t engine_cleanup(void *unused)
{
    origo_engine_config config = engine_config;

    (void)unused;
    config.counters = NULL;
    origo_engine_configure(&config);
    return APR_SUCCESS;
}

/* Starts the engine in each child process (never in the parent, see post_config). */
static void origo_child_init(apr_pool_t *p, server_rec *s)
{
    int abi;

    if (origo_curl_child_init() != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, ORIGO_LOGNO(10008)
                     "libcurl could not be initialised: upstream reads with UspEnableSubreq off will fail");
    }
    apr_pool_cleanup_register(p, NULL, curl_cleanup, apr_pool_cleanup_null);
    abi = origo_engine_init();
    if (abi != ORIGO_ABI_VERSION) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, ORIGO_LOGNO(10003)
                     "engine ABI version %d does not match the module's %d (engine %s): "
                     "all Origo requests will fail with 500; rebuild both with apxs-build.sh",
                     abi, ORIGO_ABI_VERSION, origo_engine_version());
        engine_ready = 0;
        return;
    }
    engine_ready = 1;
    engine_config.index_cache_bytes = origo_config_index_cache_bytes();
    engine_config.presentation_cache_bytes = 0;
    engine_config.counters = origo_metrics_engine_counters();
    engine_config.index_store_dir = origo_config_index_store_dir();
    engine_config.index_store_bytes = origo_config_index_store_bytes();
    origo_engine_configure(&engine_config);
    apr_pool_cleanup_register(p, NULL, engine_cleanup, apr_pool_cleanup_null);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, ORIGO_LOGNO(10004)
                 "engine %s ready (abi %d)", origo_engine_version(), abi);
}

/* Asks the engine, counting the time it takes, and sends its answer. */
static int answer(request_rec *r, const origo_request *request)
{
    apr_time_t start = apr_time_now();
    origo_response *response = origo_handle(request);

    origo_metrics_engine_answer(r, response != NULL ? response->format : ORIGO_FORMAT_OTHER, apr_time_now() - start);
    return origo_bridge_respond(r, response);
}

/* IsmProxyPass: the manifest and its media are upstream; nothing is looked up on disk. */
static int origo_proxy_handler(request_rec *r, const origo_dir_config *conf)
{
    origo_request request;
    origo_upstream *upstream;
    const char *manifest_url = NULL, *virtual_path = NULL;
    int rc;

    rc = origo_upstream_map(r, conf, &manifest_url, &virtual_path);
    origo_metrics_take(r, virtual_path);
    if (rc != OK) {
        return rc;
    }
    rc = origo_bridge_get_only(r);
    if (rc != OK) {
        return rc;
    }
    rc = refuse_loop(r, conf);
    if (rc != OK) {
        return rc;
    }
    /* Upstream reads are subrequests that would read (and forward) the client's request body. */
    if (apr_table_get(r->headers_in, "Transfer-Encoding") != NULL
        || (apr_table_get(r->headers_in, "Content-Length") != NULL
            && strcmp(apr_table_get(r->headers_in, "Content-Length"), "0") != 0)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10010)
                      "%s %s came with a request body: refused", r->method, r->uri);
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    if (!engine_ready) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10007)
                      "engine not initialised in this process; refusing %s", r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    upstream = apr_pcalloc(r->pool, sizeof(*upstream));
    origo_upstream_for_request(r, conf, upstream);
    origo_bridge_make_request(r, conf, &request);
    request.manifest_path = manifest_url;
    request.manifest_stat = NULL;
    request.virtual_path = virtual_path;
    request.upstream = upstream;
    return answer(r, &request);
}

static int origo_handler(request_rec *r)
{
    const origo_dir_config *conf;
    origo_request request;
    int rc;

    /* Our own upstream subrequests belong to mod_proxy; the status endpoint is origo_metrics.c's. */
    if (r->proxyreq != PROXYREQ_NONE || (r->handler != NULL && strcmp(r->handler, "origo-status") == 0)) {
        return DECLINED;
    }
    conf = origo_dir_config_get(r);
    if (conf != NULL && conf->proxy_url == NULL && conf->handle_ism != 0) {
        const origo_dir_config *dir = origo_config_proxy_directory(r);
        if (dir != NULL) {
            conf = dir;
        }
    }
    /* IsmProxyPass turns the engine on unless UspHandleIsm is explicitly off. */
    if (conf != NULL && conf->proxy_url != NULL && conf->handle_ism != 0) {
        return origo_proxy_handler(r, conf);
    }
    if (!origo_config_handles_ism(conf)) {
        return DECLINED;
    }
    /* An encoder's POST/PUT to <x>.isml/Streams(...): the .isml need not exist yet. */
    if (origo_ingest_wanted(r)) {
        return origo_ingest_handler(r, conf, engine_ready);
    }
    /* A plain x.mp4 (no virtual path) is a download for Apache's own static handler. */
    if (r->path_info == NULL || r->path_info[0] == '\0' || !engine_serves(r->filename)) {
        return DECLINED;
    }
    origo_metrics_take(r, r->path_info + 1);
    rc = origo_bridge_get_only(r);
    if (rc != OK) {
        return rc;
    }
    if (refuse_loop(r, conf) != OK) {
        return HTTP_LOOP_DETECTED;
    }
    if (r->finfo.filetype != APR_REG) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10005)
                      "server manifest or media file not found: %s (for %s)", r->filename, r->uri);
        return HTTP_NOT_FOUND;
    }
    if (!engine_ready) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10006)
                      "engine not initialised in this process; refusing %s", r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    origo_bridge_make_request(r, conf, &request);
    return answer(r, &request);
}

static void origo_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(origo_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(origo_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(origo_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(origo_handler, NULL, NULL, APR_HOOK_MIDDLE);
    origo_upstream_register(p);
    origo_metrics_register(p);
    origo_s3_register(p);
}

AP_DECLARE_MODULE(origo) = {
    STANDARD20_MODULE_STUFF,
    origo_create_dir_config,  /* per-directory config */
    origo_merge_dir_config,   /* merge per-directory */
    NULL,                     /* per-server config */
    NULL,                     /* merge per-server */
    origo_cmds,               /* directives */
    origo_register_hooks,
#ifdef AP_MODULE_FLAG_NONE
    AP_MODULE_FLAG_NONE
#endif
};
