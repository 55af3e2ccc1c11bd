/*
 * ngx_http_origo_module: just-in-time video packaging for nginx, on the same Swift engine as
 * mod_origo (Apache). Thin glue: directives, the "is this ours" decision, request/response
 * plumbing. Everything about media is in the engine, reached only through origo_engine.h.
 *
 * The engine answers on the event loop only from its memory (no_wait); whatever needs a read runs
 * on an nginx thread pool, never on the loop; see README.md for why. Upstream reads
 * (ism_proxy_pass, s3_*) are ngx_http_origo_upstream.c's.
 */
#include "ngx_http_origo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static ngx_int_t ngx_http_origo_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_origo_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_origo_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_origo_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static char *ngx_http_origo_proxy_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_origo_init_process(ngx_cycle_t *cycle);
static char *ngx_http_origo_handle_ism(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_origo_allow_host(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_origo_s3_value(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


/* One of the twelve live status directives (as Apache's Fmp4IssFragmentNotFound and so on). */
#define ORIGO_LIVE_STATUS_COMMAND(name, i)                                                        \
    { ngx_string(name), NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,     \
      ngx_conf_set_num_slot, NGX_HTTP_LOC_CONF_OFFSET,                                            \
      offsetof(ngx_http_origo_loc_conf_t, live_fragment_status) + (i) * sizeof(ngx_int_t), NULL }

static ngx_command_t ngx_http_origo_commands[] = {
    /* Statuses for live fragments older than the window, in a gap, or not there yet, per format
       (defaults: Smooth 404/412/412, HDS 404/503/503, HLS 404/404/404, DASH 410/404/404). */
    ORIGO_LIVE_STATUS_COMMAND("fmp4_iss_fragment_not_found", 0),
    ORIGO_LIVE_STATUS_COMMAND("fmp4_iss_fragment_missing", 1),
    ORIGO_LIVE_STATUS_COMMAND("fmp4_iss_fragment_not_available", 2),
    ORIGO_LIVE_STATUS_COMMAND("fmp4_hds_fragment_not_found", 3),
    ORIGO_LIVE_STATUS_COMMAND("fmp4_hds_fragment_missing", 4),
    ORIGO_LIVE_STATUS_COMMAND("fmp4_hds_fragment_not_available", 5),
    ORIGO_LIVE_STATUS_COMMAND("fmp4_hls_fragment_not_found", 6),
    ORIGO_LIVE_STATUS_COMMAND("fmp4_hls_fragment_missing", 7),
    ORIGO_LIVE_STATUS_COMMAND("fmp4_hls_fragment_not_available", 8),
    ORIGO_LIVE_STATUS_COMMAND("fmp4_mpd_fragment_not_found", 9),
    ORIGO_LIVE_STATUS_COMMAND("fmp4_mpd_fragment_missing", 10),
    ORIGO_LIVE_STATUS_COMMAND("fmp4_mpd_fragment_not_available", 11),


    /* usp_handle_ism [on|off]: serve <file>.<ext>/<virtual path> under this location. */
    { ngx_string("usp_handle_ism"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_origo_handle_ism,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, handle_ism),
      NULL },

    /* The largest moov/index the engine reads into memory (origo_request.max_index_bytes). */
    { ngx_string("origo_max_index_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, max_index_size),
      NULL },

    /* Parsed media indexes kept per worker process (origo_engine_configure). */
    { ngx_string("origo_index_cache_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_origo_main_conf_t, index_cache_size),
      NULL },

    /* The host's shared index store (docs/INDEX-STORE.md): a directory the workers can write. */
    { ngx_string("origo_index_cache_dir"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_origo_main_conf_t, index_store_dir),
      NULL },

    /* Its size bound; least recently used files are removed beyond it. */
    { ngx_string("origo_index_cache_dir_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_origo_main_conf_t, index_store_size),
      NULL },

    /* The thread pool (nginx's `thread_pool` directive) the engine runs on; "default" unless set. */
    { ngx_string("origo_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, thread_pool_name),
      NULL },

    /* Remote storage: every path of the location is packaged from upstream reads (README). */
    { ngx_string("ism_proxy_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_origo_proxy_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, proxy_pass),
      NULL },

    /* The internal location (with `proxy_pass $origo_upstream_url;`) upstream reads go through. */
    { ngx_string("origo_upstream_location"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, upstream_location),
      NULL },

    /* One upstream read (as OrigoUpstreamTimeout), default 30s. */
    { ngx_string("origo_upstream_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, upstream_timeout),
      NULL },

    /* All upstream reads of one client request (as OrigoUpstreamDeadline), default 60s. */
    { ngx_string("origo_upstream_deadline"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, upstream_deadline),
      NULL },

    /* Requests that passed through an Origo this many times (CDN-Loop) get 508; default 2. */
    { ngx_string("origo_max_hops"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, max_hops),
      NULL },

    /* Origins besides ism_proxy_pass's that upstream reads may reach (as OrigoProxyAllowHost). */
    { ngx_string("origo_proxy_allow_host"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_origo_allow_host,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    /* Ask the engine on the event loop first, from memory only (ORIGO_STATUS_WOULD_BLOCK
       otherwise); off: every request goes to the thread pool. */
    { ngx_string("origo_answer_on_loop"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, try_loop),
      NULL },

    /* How long a presentation's media files found unchanged are trusted by manifest requests
       (OrigoFileCheckInterval); 0: every request. */
    { ngx_string("origo_file_check_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, file_check),
      NULL },

    { ngx_string("s3_access_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_origo_s3_value,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, s3_access_key),
      NULL },

    { ngx_string("s3_secret_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_origo_s3_value,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, s3_secret_key),
      NULL },

    { ngx_string("s3_region"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_origo_s3_value,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, s3_region),
      NULL },

    { ngx_string("s3_security_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_origo_s3_value,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, s3_security_token),
      NULL },

    { ngx_string("s3_use_headers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_origo_loc_conf_t, s3_use_headers),
      NULL },

    ngx_null_command
};

static ngx_http_module_t ngx_http_origo_module_ctx = {
    ngx_http_origo_upstream_variables,       /* preconfiguration */
    ngx_http_origo_postconfiguration,      /* postconfiguration */
    ngx_http_origo_create_main_conf,       /* create main configuration */
    NULL,                                  /* init main configuration */
    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */
    ngx_http_origo_create_loc_conf,        /* create location configuration */
    ngx_http_origo_merge_loc_conf          /* merge location configuration */
};

ngx_module_t ngx_http_origo_module = {
    NGX_MODULE_V1,
    &ngx_http_origo_module_ctx,            /* module context */
    ngx_http_origo_commands,               /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_origo_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};

/* Set in each worker once the engine answered with our ABI version. */
static ngx_flag_t engine_ready;

/* The request's URI as log lines show it: at most this many bytes, so that nginx's limit on a
   line (NGX_MAX_ERROR_STR, 2 KB) keeps the reason that follows it. */
#define ORIGO_LOG_URI_MAX 256

ngx_str_t *
ngx_http_origo_log_uri(ngx_http_request_t *r, ngx_str_t *out)
{
    *out = r->uri;
    if (out->len > ORIGO_LOG_URI_MAX) {
        out->len = ORIGO_LOG_URI_MAX;
    }
    return out;
}


/* ---- configuration ---------------------------------------------------------------------- */

static void *
ngx_http_origo_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_origo_main_conf_t *conf = ngx_pcalloc(cf->pool, sizeof(*conf));

    if (conf == NULL) {
        return NULL;
    }
    conf->index_cache_size = NGX_CONF_UNSET;
    conf->index_store_size = NGX_CONF_UNSET;
    return conf;
}

static void *
ngx_http_origo_create_loc_conf(ngx_conf_t *cf)
{
    /* ngx_pcalloc leaves the ngx_str_t fields empty ("not set"). */
    ngx_http_origo_loc_conf_t *conf = ngx_pcalloc(cf->pool, sizeof(*conf));
    int i;

    if (conf == NULL) {
        return NULL;
    }
    conf->handle_ism = NGX_CONF_UNSET;
    conf->max_index_size = NGX_CONF_UNSET;
    conf->try_loop = NGX_CONF_UNSET;
    conf->file_check = NGX_CONF_UNSET_MSEC;
    conf->s3_use_headers = NGX_CONF_UNSET;
    conf->upstream_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream_deadline = NGX_CONF_UNSET_MSEC;
    conf->max_hops = NGX_CONF_UNSET;
    conf->allow_hosts = NGX_CONF_UNSET_PTR;
    for (i = 0; i < ORIGO_LIVE_STATUS_COUNT; i++) {
        conf->live_fragment_status[i] = NGX_CONF_UNSET;
    }
    return conf;
}

/* s3_access_key, s3_secret_key, s3_region, s3_security_token. Messages never repeat the value: it
   may be a secret. */
static char *
ngx_http_origo_s3_value(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t *value = cf->args->elts;
    ngx_str_t *field = (ngx_str_t *) ((char *) conf + cmd->offset);
    ngx_str_t *v = &value[1];
    ngx_uint_t i;

    if (field->data != NULL) {
        return "is duplicate";
    }
    if (v->len == 0) {
        return "must not be empty";
    }
    for (i = 0; i < v->len; i++) {
        if (v->data[i] <= ' ' || v->data[i] == 0x7f) {
            return "must be without blanks or control characters";
        }
        if (cmd->offset == offsetof(ngx_http_origo_loc_conf_t, s3_access_key) && v->data[i] == '/') {
            return "is not an access key id (it has a \"/\")";
        }
        if (cmd->offset == offsetof(ngx_http_origo_loc_conf_t, s3_region)
            && !((v->data[i] >= 'a' && v->data[i] <= 'z') || (v->data[i] >= '0' && v->data[i] <= '9')
                 || v->data[i] == '-'))
        {
            return "is not a region name (lower-case letters, digits and '-', e.g. eu-central-1)";
        }
    }
    *field = *v;
    return NGX_CONF_OK;
}

/* A NUL-terminated copy of `s` from `pool`, or NULL. */
static char *
ngx_http_origo_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    char *p = ngx_pnalloc(pool, s->len + 1);

    if (p != NULL) {
        ngx_memcpy(p, s->data, s->len);
        p[s->len] = '\0';
    }
    return p;
}

/* The credentials of a location as origo_s3_sign takes them, and the engine's cache scope. */
static ngx_int_t
ngx_http_origo_s3_merge(ngx_conf_t *cf, ngx_http_origo_loc_conf_t *conf)
{
    char fingerprint[17];
    size_t n;

    ngx_memzero(&conf->s3, sizeof(conf->s3));
    conf->s3_scope = "";
    if ((conf->s3_access_key.len == 0) != (conf->s3_secret_key.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "s3_access_key and s3_secret_key go together");
        return NGX_ERROR;
    }
    if (conf->s3_access_key.len == 0) {
        return NGX_OK;
    }
    conf->s3.access_key = ngx_http_origo_cstr(cf->pool, &conf->s3_access_key);
    conf->s3.secret_key = ngx_http_origo_cstr(cf->pool, &conf->s3_secret_key);
    conf->s3.region = conf->s3_region.len > 0 ? ngx_http_origo_cstr(cf->pool, &conf->s3_region) : "us-east-1";
    conf->s3.security_token = conf->s3_security_token.len > 0
                              ? ngx_http_origo_cstr(cf->pool, &conf->s3_security_token) : NULL;
    if (conf->s3.access_key == NULL || conf->s3.secret_key == NULL || conf->s3.region == NULL
        || (conf->s3_security_token.len > 0 && conf->s3.security_token == NULL)
        || !origo_s3_fingerprint(conf->s3.secret_key, fingerprint))
    {
        return NGX_ERROR;
    }
    /* Cached indexes read with one set of credentials are not served to another. */
    n = sizeof(" s3=//") + strlen(conf->s3.access_key) + strlen(conf->s3.region) + sizeof(fingerprint);
    conf->s3_scope = ngx_pnalloc(cf->pool, n);
    if (conf->s3_scope == NULL) {
        return NGX_ERROR;
    }
    snprintf(conf->s3_scope, n, " s3=%s/%s/%s", conf->s3.access_key, conf->s3.region, fingerprint);
    return NGX_OK;
}

static char *
ngx_http_origo_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_origo_loc_conf_t *prev = parent;
    ngx_http_origo_loc_conf_t *conf = child;
    int i;

    ngx_conf_merge_value(conf->handle_ism, prev->handle_ism, 0);
    ngx_conf_merge_off_value(conf->max_index_size, prev->max_index_size, 0);
    ngx_conf_merge_str_value(conf->thread_pool_name, prev->thread_pool_name, "default");
    ngx_conf_merge_value(conf->try_loop, prev->try_loop, 1);
    ngx_conf_merge_msec_value(conf->file_check, prev->file_check, 1000);
    /* ism_proxy_pass is a location's own, never inherited (as IsmProxyPass in a <Location>). */
    ngx_conf_merge_str_value(conf->s3_access_key, prev->s3_access_key, "");
    ngx_conf_merge_str_value(conf->s3_secret_key, prev->s3_secret_key, "");
    ngx_conf_merge_str_value(conf->s3_region, prev->s3_region, "");
    ngx_conf_merge_str_value(conf->s3_security_token, prev->s3_security_token, "");
    ngx_conf_merge_value(conf->s3_use_headers, prev->s3_use_headers, 0);
    if (ngx_http_origo_s3_merge(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }
    ngx_conf_merge_str_value(conf->upstream_location, prev->upstream_location, "/origo-upstream");
    ngx_conf_merge_msec_value(conf->upstream_timeout, prev->upstream_timeout, 30000);
    ngx_conf_merge_msec_value(conf->upstream_deadline, prev->upstream_deadline, 60000);
    ngx_conf_merge_value(conf->max_hops, prev->max_hops, 2);
    ngx_conf_merge_ptr_value(conf->allow_hosts, prev->allow_hosts, NULL);
    for (i = 0; i < ORIGO_LIVE_STATUS_COUNT; i++) {
        ngx_conf_merge_value(conf->live_fragment_status[i], prev->live_fragment_status[i], 0);
        if (conf->live_fragment_status[i] != 0
            && (conf->live_fragment_status[i] < 400 || conf->live_fragment_status[i] > 599))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "fmp4_*_fragment_* must be an HTTP status from 400 to 599");
            return NGX_CONF_ERROR;
        }
    }
    if (conf->max_hops < 1 || conf->max_hops > 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "origo_max_hops must be 1..16");
        return NGX_CONF_ERROR;
    }
    if (conf->upstream_location.len == 0 || conf->upstream_location.data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "origo_upstream_location must be a URI path");
        return NGX_CONF_ERROR;
    }

    if (conf->max_index_size < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "origo_max_index_size must not be negative");
        return NGX_CONF_ERROR;
    }
    if (conf->handle_ism || conf->proxy_pass.data != NULL) {
        /* Registers the pool (nginx creates "default" with 32 threads unless `thread_pool` names it). */
        conf->thread_pool = ngx_thread_pool_add(cf, &conf->thread_pool_name);
        if (conf->thread_pool == NULL) {
            return NGX_CONF_ERROR;
        }
    }
    return NGX_CONF_OK;
}

/* usp_handle_ism; (the seed's form) or usp_handle_ism on|off; */
static char *
ngx_http_origo_handle_ism(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_origo_loc_conf_t *lcf = conf;
    ngx_str_t *value = cf->args->elts;

    if (lcf->handle_ism != NGX_CONF_UNSET) {
        return "is duplicate";
    }
    if (cf->args->nelts == 1 || ngx_strcasecmp(value[1].data, (u_char *) "on") == 0) {
        lcf->handle_ism = 1;
        return NGX_CONF_OK;
    }
    if (ngx_strcasecmp(value[1].data, (u_char *) "off") == 0) {
        lcf->handle_ism = 0;
        return NGX_CONF_OK;
    }
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid value \"%V\" in \"%V\": on or off",
                       &value[1], &cmd->name);
    return NGX_CONF_ERROR;
}

/* ism_proxy_pass http(s)://host[:port]/path/; the trailing '/' is mandatory (as IsmProxyPass). */
static char *
ngx_http_origo_proxy_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_origo_loc_conf_t *lcf = conf;
    ngx_str_t *value = cf->args->elts;
    ngx_str_t *url = &value[1];

    if (lcf->proxy_pass.data != NULL) {
        return "is duplicate";
    }
    if (!((url->len > 7 && ngx_strncasecmp(url->data, (u_char *) "http://", 7) == 0)
          || (url->len > 8 && ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V: \"%V\" is not an http:// or https:// URL",
                           &cmd->name, url);
        return NGX_CONF_ERROR;
    }
    if (url->data[url->len - 1] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V: \"%V\" must end with \"/\"", &cmd->name, url);
        return NGX_CONF_ERROR;
    }
    {
        origo_origin o;
        char buf[1024];

        if (url->len >= sizeof(buf)) {
            return "is too long";
        }
        ngx_memcpy(buf, url->data, url->len);
        buf[url->len] = '\0';
        if (!origo_origin_parse(buf, 0, &o)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V: \"%V\" has no valid host", &cmd->name, url);
            return NGX_CONF_ERROR;
        }
    }
    lcf->proxy_pass = *url;
    return NGX_CONF_OK;
}

/* origo_proxy_allow_host http(s)://host[:port] | host[:port] ...; */
static char *
ngx_http_origo_allow_host(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_origo_loc_conf_t *lcf = conf;
    ngx_str_t *value = cf->args->elts;
    origo_origin *o;
    ngx_uint_t i;
    char buf[1024];

    if (lcf->allow_hosts == NGX_CONF_UNSET_PTR || lcf->allow_hosts == NULL) {
        lcf->allow_hosts = ngx_array_create(cf->pool, 4, sizeof(origo_origin));
        if (lcf->allow_hosts == NULL) {
            return NGX_CONF_ERROR;
        }
    }
    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len >= sizeof(buf)) {
            return "has a value that is too long";
        }
        ngx_memcpy(buf, value[i].data, value[i].len);
        buf[value[i].len] = '\0';
        o = ngx_array_push(lcf->allow_hosts);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }
        if (!origo_origin_parse(buf, 1, o)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V: \"%V\" is not an origin "
                               "(http://host[:port], https://host[:port] or host[:port])", &cmd->name, &value[i]);
            return NGX_CONF_ERROR;
        }
    }
    return NGX_CONF_OK;
}


/* ---- worker start ----------------------------------------------------------------------- */

/* Starts the engine in each worker (never in the master: no Swift threads before the fork). */
static ngx_int_t
ngx_http_origo_init_process(ngx_cycle_t *cycle)
{
    ngx_http_origo_main_conf_t *mcf;
    origo_engine_config config;
    int abi;

    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) {
        return NGX_OK;
    }
    abi = origo_engine_init();
    if (abi != ORIGO_ABI_VERSION) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0, ORIGO_LOGNO(10003)
                      "engine ABI version %d does not match the module's %d (engine %s): all Origo "
                      "requests will fail with 500; rebuild both with ngx-build.sh",
                      abi, ORIGO_ABI_VERSION, origo_engine_version());
        engine_ready = 0;
        return NGX_OK;
    }
    ngx_memzero(&config, sizeof(config));
    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_origo_module);
    if (mcf != NULL && mcf->index_cache_size > 0) {
        config.index_cache_bytes = (uint64_t) mcf->index_cache_size;
    }
    if (mcf != NULL && mcf->index_store_dir.len > 0 && ngx_strcmp(mcf->index_store_dir.data, "off") != 0) {
        /* Configuration strings are NUL-terminated; the engine copies it. */
        config.index_store_dir = (const char *) mcf->index_store_dir.data;
        if (mcf->index_store_size > 0) {
            config.index_store_bytes = (uint64_t) mcf->index_store_size;
        }
    }
    /* No shared counters yet (the status endpoint is Apache-only for now). */
    config.counters = NULL;
    origo_engine_configure(&config);
    engine_ready = 1;
    (void) ngx_http_origo_fetch_init(cycle);
    ngx_log_error(NGX_LOG_INFO, cycle->log, 0, ORIGO_LOGNO(10004) "engine %s ready (abi %d)",
                  origo_engine_version(), abi);
    return NGX_OK;
}


/* The number of "origo" elements of the request's CDN-Loop header lines. */
static int
ngx_http_origo_hops(ngx_http_request_t *r)
{
    char *value = ngx_http_origo_header_value(&r->headers_in.headers, "CDN-Loop");
    int hops = value != NULL ? origo_cdn_loop_count(value, ORIGO_LOOP_TOKEN) : 0;

    free(value);
    return hops;
}

/* ---- the worker thread's part -------------------------------------------------------------- */

/*
 * Finds the server manifest or media file in ctx->path: the first prefix of the URI part whose
 * name the engine serves, followed by '/', that is a regular file (a directory of such a name is
 * walked through, as Apache's path walk does). Cuts ctx->path there and sets ctx->virtual_path.
 * Returns 0, or the HTTP status to answer with (ctx->stat_errno says why).
 */
static int
origo_find_manifest(ngx_http_origo_task_ctx_t *ctx)
{
    char *p = ctx->path + ctx->tail;
    struct stat st;

    for ( ;; ) {
        size_t mlen;
        char *end;

        while (*p == '/') {
            p++;
        }
        mlen = origo_manifest_length(p);
        if (mlen == 0 || p[mlen] != '/') {
            /* Only directories of served names on the way: nothing to package. */
            ctx->stat_errno = ENOENT;
            return NGX_HTTP_NOT_FOUND;
        }
        end = p + mlen;
        *end = '\0';
        if (stat(ctx->path, &st) != 0) {
            ctx->stat_errno = errno;
            return errno == EACCES ? NGX_HTTP_FORBIDDEN : NGX_HTTP_NOT_FOUND;
        }
        if (S_ISREG(st.st_mode)) {
            ctx->virtual_path = end + 1;
            ctx->manifest_stat.size = st.st_size > 0 ? (uint64_t) st.st_size : 0;
            ctx->manifest_stat.mtime_sec = (int64_t) st.st_mtim.tv_sec;
            ctx->manifest_stat.mtime_nsec = (int64_t) st.st_mtim.tv_nsec;
            return 0;
        }
        if (!S_ISDIR(st.st_mode)) {
            ctx->stat_errno = 0;
            return NGX_HTTP_NOT_FOUND;
        }
        *end = '/';
        p = end + 1;
    }
}

/* Opens the distinct files of the response's pieces (at most ORIGO_TASK_FILES), with their sizes. */
static void
origo_open_files(ngx_http_origo_task_ctx_t *ctx)
{
    const origo_response *resp = ctx->response;
    size_t i;
    int k;

    for (i = 0; i < resp->piece_count && resp->pieces != NULL; i++) {
        const origo_piece *piece = &resp->pieces[i];
        origo_task_file *f;
        struct stat st;

        if (piece->data != NULL || piece->file_path == NULL || piece->length == 0) {
            continue;
        }
        for (k = 0; k < ctx->file_count; k++) {
            if (strcmp(ctx->files[k].path, piece->file_path) == 0) {
                break;
            }
        }
        if (k < ctx->file_count) {
            continue;
        }
        if (ctx->file_count == ORIGO_TASK_FILES) {
            return;                          /* the event loop opens the rest */
        }
        f = &ctx->files[ctx->file_count++];
        f->path = piece->file_path;
        f->size = 0;
        f->error = 0;
        f->fd = open(piece->file_path, O_RDONLY | O_CLOEXEC);
        if (f->fd == -1) {
            f->error = errno;
            continue;
        }
        if (fstat(f->fd, &st) != 0) {
            f->error = errno;
        } else {
            f->size = st.st_size > 0 ? (uint64_t) st.st_size : 0;
        }
    }
}

/*
 * Stat, engine, open: on a pool thread (no_wait 0), or first on the event loop (no_wait 1), where
 * the engine answers only from memory and says ORIGO_STATUS_WOULD_BLOCK otherwise. No nginx pool,
 * log or event calls here.
 */
static void
origo_run_engine(ngx_http_origo_task_ctx_t *ctx, int no_wait)
{
    origo_request request;
    struct timespec t0, t1;
    int k;

    if (ctx->manifest_url == NULL && !ctx->found) {
        ctx->found = 1;
        ctx->status = origo_find_manifest(ctx);
    }
    if (ctx->status != 0) {
        return;
    }
    ngx_memzero(&request, sizeof(request));
    request.method = ctx->method;
    request.manifest_path = ctx->manifest_url != NULL ? ctx->manifest_url : ctx->path;
    request.virtual_path = ctx->virtual_path;
    request.query = ctx->query;
    request.uri = ctx->uri;
    request.max_index_bytes = ctx->max_index_bytes;
    request.upstream = ctx->manifest_url != NULL ? &ctx->upstream : NULL;
    request.map_files = 1;
    request.no_wait = no_wait;
    request.manifest_stat = ctx->manifest_url != NULL ? NULL : &ctx->manifest_stat;
    request.file_check_interval_ms = ctx->file_check_ms;
    for (k = 0; k < ORIGO_LIVE_STATUS_COUNT; k++) {
        request.live_fragment_status[k] = ctx->lcf != NULL ? (int) ctx->lcf->live_fragment_status[k] : 0;
    }

    clock_gettime(CLOCK_MONOTONIC, &t0);
    ctx->response = origo_handle(&request);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ctx->engine_usec = (uint64_t) ((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);

    if (ctx->response != NULL && ctx->response->status >= 200 && ctx->response->status <= 299
        && !ctx->head)
    {
        origo_open_files(ctx);
    }
}

static void
ngx_http_origo_thread_handler(void *data, ngx_log_t *log)
{
    (void) log;
    origo_run_engine(data, 0);
}

/* ---- back on the event loop: the response --------------------------------------------------- */

static void
ngx_http_origo_response_cleanup(void *data)
{
    origo_response_free(data);
}

static void
ngx_http_origo_fd_cleanup(void *data)
{
    int *fd = data;

    if (*fd != -1) {
        close(*fd);
        *fd = -1;
    }
}

/* Gives everything the thread produced to the request pool, so it is released with the request. */
static ngx_int_t
ngx_http_origo_adopt(ngx_http_request_t *r, ngx_http_origo_task_ctx_t *ctx)
{
    ngx_pool_cleanup_t *cln;
    ngx_int_t rc = NGX_OK;
    int k;

    for (k = 0; k < ctx->file_count; k++) {
        if (ctx->files[k].fd == -1) {
            continue;
        }
        cln = rc == NGX_OK ? ngx_pool_cleanup_add(r->pool, 0) : NULL;
        if (cln == NULL) {
            /* Out of memory: close this one and the rest now (the answer will be a 500). */
            ngx_http_origo_fd_cleanup(&ctx->files[k].fd);
            rc = NGX_ERROR;
            continue;
        }
        cln->handler = ngx_http_origo_fd_cleanup;
        cln->data = &ctx->files[k].fd;
    }
    if (ctx->response != NULL) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            origo_response_free(ctx->response);
            ctx->response = NULL;
            return NGX_ERROR;
        }
        cln->handler = ngx_http_origo_response_cleanup;
        cln->data = ctx->response;
    }
    return rc;
}

/* Checks the pieces before anything is sent, so a broken answer becomes a clean 500. */
static ngx_int_t
ngx_http_origo_pieces_consistent(ngx_http_request_t *r, const origo_response *resp)
{
    ngx_str_t log_uri;
    uint64_t total = 0;
    size_t i;

    if (resp->piece_count > 0 && resp->pieces == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, ORIGO_LOGNO(10101)
                      "engine returned %uz pieces without a piece array for %V", resp->piece_count,
                      ngx_http_origo_log_uri(r, &log_uri));
        return 0;
    }
    for (i = 0; i < resp->piece_count; i++) {
        const origo_piece *piece = &resp->pieces[i];

        if (piece->data == NULL && piece->file_path == NULL && piece->length > 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, ORIGO_LOGNO(10102)
                          "engine returned piece %uz with neither data nor file for %V", i,
                          ngx_http_origo_log_uri(r, &log_uri));
            return 0;
        }
        if (piece->length > (uint64_t) NGX_MAX_OFF_T_VALUE - total
            || (piece->data != NULL && piece->length > NGX_MAX_SIZE_T_VALUE))
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, ORIGO_LOGNO(10103)
                          "engine returned a body too large to send for %V",
                          ngx_http_origo_log_uri(r, &log_uri));
            return 0;
        }
        total += piece->length;
    }
    if (total != resp->content_length) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, ORIGO_LOGNO(10104)
                      "engine content_length %uL differs from its pieces (%uL) for %V",
                      (uint64_t) resp->content_length, total, ngx_http_origo_log_uri(r, &log_uri));
        return 0;
    }
    return 1;
}

/* The ngx_file_t of a piece's file: one of the thread's, else opened here (more than
   ORIGO_TASK_FILES distinct files: rare). Checks the range against the file's size. */
static ngx_int_t
ngx_http_origo_piece_file(ngx_http_request_t *r, ngx_http_origo_task_ctx_t *ctx,
    ngx_file_t **files, const origo_piece *piece, ngx_file_t **out)
{
    ngx_str_t log_uri;
    origo_task_file *f = NULL, extra;
    ngx_file_t *file;
    ngx_pool_cleanup_t *cln;
    int k, *fdp;
    struct stat st;

    for (k = 0; k < ctx->file_count; k++) {
        if (strcmp(ctx->files[k].path, piece->file_path) == 0) {
            f = &ctx->files[k];
            break;
        }
    }
    if (f == NULL) {
        /* Beyond the thread's table: opened on the event loop (the engine just read it). */
        extra.path = piece->file_path;
        extra.error = 0;
        extra.size = 0;
        extra.fd = open(piece->file_path, O_RDONLY | O_CLOEXEC);
        if (extra.fd == -1) {
            extra.error = errno;
        } else {
            cln = ngx_pool_cleanup_add(r->pool, sizeof(int));
            if (cln == NULL) {
                close(extra.fd);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            fdp = cln->data;
            *fdp = extra.fd;
            cln->handler = ngx_http_origo_fd_cleanup;
            if (fstat(extra.fd, &st) != 0) {
                extra.error = errno;
            } else {
                extra.size = st.st_size > 0 ? (uint64_t) st.st_size : 0;
            }
        }
        f = &extra;
        k = -1;
    }
    if (f->error != 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, f->error, ORIGO_LOGNO(10105)
                      "cannot open media file %s for %V", piece->file_path,
                      ngx_http_origo_log_uri(r, &log_uri));
        return f->error == ENOENT ? NGX_HTTP_NOT_FOUND : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (piece->length > f->size || piece->file_offset > f->size - piece->length) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, ORIGO_LOGNO(10107)
                      "range %uL+%uL is outside media file %s (%uL bytes) for %V",
                      (uint64_t) piece->file_offset, (uint64_t) piece->length, piece->file_path,
                      f->size, ngx_http_origo_log_uri(r, &log_uri));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (k >= 0 && files[k] != NULL) {
        *out = files[k];
        return NGX_OK;
    }
    file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    file->fd = f->fd;
    file->name.data = (u_char *) piece->file_path;
    file->name.len = ngx_strlen(piece->file_path);
    file->log = r->connection->log;
    file->directio = 0;
    if (k >= 0) {
        files[k] = file;
    }
    *out = file;
    return NGX_OK;
}

/*
 * The body: generated bytes as memory buffers over the engine's memory (freed with the request
 * pool), file ranges as file buffers that nginx sends as it sends static files (sendfile, or read
 * under `aio threads`). Consecutive ranges of one file become one buffer.
 */
static ngx_int_t
ngx_http_origo_body(ngx_http_request_t *r, ngx_http_origo_task_ctx_t *ctx, ngx_chain_t **out,
    ngx_uint_t *buffers)
{
    const origo_response *resp = ctx->response;
    ngx_file_t *files[ORIGO_TASK_FILES] = { NULL };
    ngx_chain_t **next = out, *cl;
    ngx_buf_t *b, *last = NULL;
    ngx_file_t *file;
    ngx_int_t rc;
    size_t i;

    *out = NULL;
    *buffers = 0;
    for (i = 0; i < resp->piece_count; i++) {
        const origo_piece *piece = &resp->pieces[i];

        if (piece->length == 0) {
            continue;
        }
        if (piece->data != NULL) {
            b = ngx_calloc_buf(r->pool);
            if (b == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            b->start = b->pos = (u_char *) piece->data;
            b->end = b->last = (u_char *) piece->data + piece->length;
            b->memory = 1;
        } else {
            rc = ngx_http_origo_piece_file(r, ctx, files, piece, &file);
            if (rc != NGX_OK) {
                return rc;
            }
            /* ngx_http_origo_piece_file checked offset + length against the file size. */
            if (last != NULL && last->in_file && last->file == file
                && (uint64_t) last->file_last == piece->file_offset)
            {
                last->file_last += (off_t) piece->length;
                continue;
            }
            b = ngx_calloc_buf(r->pool);
            if (b == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            b->in_file = 1;
            b->file = file;
            b->file_pos = (off_t) piece->file_offset;
            b->file_last = (off_t) (piece->file_offset + piece->length);
        }
        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        cl->buf = b;
        cl->next = NULL;
        *next = cl;
        next = &cl->next;
        last = b;
        (*buffers)++;
    }
    if (last == NULL) {
        /* An empty body still needs its last buffer. */
        last = ngx_calloc_buf(r->pool);
        cl = ngx_alloc_chain_link(r->pool);
        if (last == NULL || cl == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        cl->buf = last;
        cl->next = NULL;
        *out = cl;
    }
    last->last_buf = (r == r->main) ? 1 : 0;
    last->last_in_chain = 1;
    return NGX_OK;
}

/* The engine's further headers ("Name: value\n" lines, live Cache-Control and Sunset), for
   error answers too. */
static ngx_int_t
ngx_http_origo_engine_headers(ngx_http_request_t *r, const origo_response *resp)
{
    const char *cursor = resp->headers, *name, *value;
    size_t name_len, value_len;
    ngx_table_elt_t *h;

    while (origo_next_header(&cursor, &name, &name_len, &value, &value_len)) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }
        h->hash = 1;
        h->key.len = name_len;
        h->key.data = ngx_pnalloc(r->pool, name_len);
        h->value.len = value_len;
        h->value.data = ngx_pnalloc(r->pool, value_len + 1);
        if (h->key.data == NULL || h->value.data == NULL) {
            return NGX_ERROR;
        }
        ngx_memcpy(h->key.data, name, name_len);
        ngx_memcpy(h->value.data, value, value_len);
        h->value.data[value_len] = '\0';
    }
    return NGX_OK;
}

static ngx_int_t
ngx_http_origo_set_headers(ngx_http_request_t *r, const origo_response *resp)
{
    const char *type = resp->content_type != NULL ? resp->content_type : "application/octet-stream";
    ngx_table_elt_t *h;
    size_t len;

    len = ngx_strlen(type);
    r->headers_out.content_type.data = ngx_pnalloc(r->pool, len);
    if (r->headers_out.content_type.data == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(r->headers_out.content_type.data, type, len);
    r->headers_out.content_type.len = len;
    r->headers_out.content_type_len = len;
    r->headers_out.content_type_lowcase = NULL;

    if (resp->etag != NULL) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }
        h->hash = 1;
        ngx_str_set(&h->key, "ETag");
        h->value.len = ngx_strlen(resp->etag);
        h->value.data = ngx_pnalloc(r->pool, h->value.len);
        if (h->value.data == NULL) {
            return NGX_ERROR;
        }
        ngx_memcpy(h->value.data, resp->etag, h->value.len);
        r->headers_out.etag = h;
    }
    if (resp->last_modified > 0) {
        r->headers_out.last_modified_time = (time_t) resp->last_modified;
    }
    return ngx_http_origo_engine_headers(r, resp);
}

/* Turns the thread's result into the response. Returns what ngx_http_finalize_request takes. */
/*
 * A body of generated bytes and a file range (an fMP4 segment) goes out without TCP_CORK, with
 * TCP_NODELAY. Under `tcp_nopush on` nginx corks the socket when headers precede a file and
 * uncorks after the last byte without turning TCP_NODELAY back on (strace: no setsockopt of it),
 * so the response's last partial segment waited for the client's delayed ACK: measured on 360p
 * DASH segments, 40-45 ms stalls, 700 requests/s against 16,000 without cork (static files of
 * the same bytes: 14,000-17,000). The connection keeps tcp_nopush off for its later requests.
 */
static ngx_int_t
ngx_http_origo_no_cork(ngx_http_request_t *r)
{
    ngx_connection_t *c = r->connection;
    ngx_http_core_loc_conf_t *clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (c->tcp_nopush == NGX_TCP_NOPUSH_UNSET) {
        c->tcp_nopush = NGX_TCP_NOPUSH_DISABLED;
    }
    if (clcf->tcp_nodelay && c->tcp_nopush != NGX_TCP_NOPUSH_SET) {
        return ngx_tcp_nodelay(c);
    }
    return NGX_OK;
}

static ngx_int_t
ngx_http_origo_respond(ngx_http_request_t *r, ngx_http_origo_task_ctx_t *ctx)
{
    ngx_str_t log_uri;
    origo_response *resp = ctx->response;
    ngx_chain_t *out;
    ngx_uint_t buffers;
    ngx_int_t rc;

    if (ctx->status != 0) {
        /* "<status> for <uri>: <reason>", the shape of the engine's lines. */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ctx->stat_errno, ORIGO_LOGNO(10005)
                      "%d for %V: server manifest or media file not found: %s",
                      ctx->status, ngx_http_origo_log_uri(r, &log_uri), ctx->path);
        return ctx->status;
    }
    if (resp == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, ORIGO_LOGNO(10111)
                      "engine returned no response for %V", ngx_http_origo_log_uri(r, &log_uri));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (resp->status >= 400 && resp->status <= 599) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, ORIGO_LOGNO(10110) "%d for %V: %s",
                      resp->status, ngx_http_origo_log_uri(r, &log_uri),
                      resp->log_reason != NULL ? resp->log_reason : "(no reason given)");
        if (ngx_http_origo_engine_headers(r, resp) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return resp->status;
    }
    if (resp->status < 200 || resp->status > 299) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, ORIGO_LOGNO(10112)
                      "engine returned unsupported status %d for %V", resp->status,
                      ngx_http_origo_log_uri(r, &log_uri));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!ngx_http_origo_pieces_consistent(r, resp)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (ngx_http_origo_set_headers(r, resp) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    r->headers_out.status = resp->status;
    r->headers_out.content_length_n = (off_t) resp->content_length;

    out = NULL;
    buffers = 0;
    /* (nginx sets header_only for HEAD only in its header filter, below) */
    if (!r->header_only && r->method != NGX_HTTP_HEAD) {
        /* Built before the header goes out, so a bad piece is still a clean 500. */
        rc = ngx_http_origo_body(r, ctx, &out, &buffers);
        if (rc != NGX_OK) {
            return rc;
        }
    }
    /* Ranges by nginx's range filter; several ranges only over a one-buffer body (its limit). */
    r->allow_ranges = 1;
    r->single_range = buffers > 1;
    if (buffers > 1 && ngx_http_origo_no_cork(r) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }
    return ngx_http_output_filter(r, out);
}

/* The guard timer fired: the engine has been working on this request for a long time. */
static void
ngx_http_origo_task_guard(ngx_event_t *ev)
{
    ngx_http_origo_task_ctx_t *ctx = ev->data;
    ngx_str_t log_uri;

    ngx_log_error(NGX_LOG_WARN, ev->log, 0, ORIGO_LOGNO(10903)
                  "the engine is still working on %V after %M ms or more",
                  ngx_http_origo_log_uri(ctx->r, &log_uri), (ngx_msec_t) ORIGO_TASK_GUARD_MSEC);
    ngx_add_timer(ev, ORIGO_TASK_GUARD_MSEC);
}

/* The task is done: back on the worker's event loop. */
static void
ngx_http_origo_task_done(ngx_event_t *ev)
{
    ngx_http_origo_task_ctx_t *ctx = ev->data;
    ngx_http_request_t *r = ctx->r;
    ngx_connection_t *c = r->connection;
    ngx_int_t rc;

    if (ctx->guard.timer_set) {
        ngx_del_timer(&ctx->guard);
    }
    if (c->data != r && c->data != NULL
        && ngx_http_get_module_ctx((ngx_http_request_t *) c->data, ngx_http_origo_module) != NULL)
    {
        /* A read that timed out is still running: the connection is the main request's again. */
        c->data = r;
    }
    r->main->blocked--;
    r->aio = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0, "origo: engine %uL us for \"%V\"",
                   ctx->engine_usec, &r->uri);
    if (ngx_http_origo_adopt(r, ctx) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    } else if (c->error) {
        /* The client went away while the engine worked. */
        rc = NGX_ERROR;
    } else {
        rc = ngx_http_origo_respond(r, ctx);
    }
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* ---- the content-phase handler ---------------------------------------------------------------- */

/* NGX_OK when this worker can hand the request to the engine, else the status to answer with. */
static ngx_int_t
ngx_http_origo_ready(ngx_http_request_t *r, ngx_http_origo_loc_conf_t *lcf)
{
    ngx_str_t log_uri;

    if (!engine_ready) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, ORIGO_LOGNO(10006)
                      "engine not initialised in this process; refusing %V",
                      ngx_http_origo_log_uri(r, &log_uri));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return lcf->thread_pool != NULL ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
}

/* Whether the file name of `name` (its first `len` bytes) ends in .isml, any letter case. */
static ngx_int_t
ngx_http_origo_is_isml(const char *name, size_t len)
{
    return len >= 5 && ngx_strncasecmp((u_char *) name + len - 5, (u_char *) ".isml", 5) == 0;
}

/* Live ingest (POST/PUT to <x>.isml/Streams(...)) is Apache's for now (issue #17): a clear 501
   and a log line. The body is not read: the connection closes after the answer. */
static ngx_int_t
ngx_http_origo_no_ingest(ngx_http_request_t *r)
{
    ngx_str_t log_uri;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, ORIGO_LOGNO(10905)
                  "501 for %V %V: live ingest is not supported by the nginx module yet (issue #17)",
                  &r->method_name, ngx_http_origo_log_uri(r, &log_uri));
    r->keepalive = 0;
    return NGX_HTTP_NOT_IMPLEMENTED;
}

static ngx_int_t
ngx_http_origo_not_allowed(ngx_http_request_t *r)
{
    ngx_table_elt_t *h = ngx_list_push(&r->headers_out.headers);
    ngx_int_t rc;

    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    ngx_str_set(&h->value, "GET, HEAD, OPTIONS");
    if (r->method != NGX_HTTP_OPTIONS) {
        return NGX_HTTP_NOT_ALLOWED;
    }
    /* OPTIONS: the Allow header and an empty body (Apache's core answers it the same way). An
       error page discards a request body itself; this answer must, or the body would be read as
       the connection's next request. */
    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;
    return ngx_http_send_header(r);
}

/* Posts the task to the thread pool and holds the request until ngx_http_origo_task_done. */
static ngx_int_t
ngx_http_origo_start_task(ngx_http_request_t *r, ngx_http_origo_loc_conf_t *lcf, ngx_thread_task_t *task)
{
    ngx_http_origo_task_ctx_t *ctx = task->ctx;
    ngx_str_t log_uri;

    if (lcf->try_loop) {
        /* Warm requests (a cached manifest, a segment sent from the file) need no read and no
           build: answered here, without the two trips to the pool and back. */
        origo_run_engine(ctx, 1);
        if (ctx->response == NULL || ctx->response->status != ORIGO_STATUS_WOULD_BLOCK) {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0, "origo: engine %uL us on the loop for \"%V\"",
                           ctx->engine_usec, &r->uri);
            if (ngx_http_origo_adopt(r, ctx) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            return ngx_http_origo_respond(r, ctx);
        }
        origo_response_free(ctx->response);
        ctx->response = NULL;
    }
    task->handler = ngx_http_origo_thread_handler;
    task->event.data = ctx;
    task->event.handler = ngx_http_origo_task_done;
    if (ngx_thread_task_post(lcf->thread_pool, task) != NGX_OK) {
        /* The pool's queue is full (thread_pool max_queue): shed load rather than block. */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, ORIGO_LOGNO(10902)
                      "thread pool \"%V\" refused the task for %V", &lcf->thread_pool_name,
                      ngx_http_origo_log_uri(r, &log_uri));
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }
    /* Keeps the request (and the memory the thread uses) alive until ngx_http_origo_task_done. */
    r->main->blocked++;
    r->main->count++;
    r->aio = 1;
    r->write_event_handler = ngx_http_request_empty_handler;
    ctx->guard.handler = ngx_http_origo_task_guard;
    ctx->guard.data = ctx;
    ctx->guard.log = r->connection->log;
    ngx_add_timer(&ctx->guard, ORIGO_TASK_GUARD_MSEC);
    return NGX_DONE;
}

/* The task's common fields, from the request. NULL when out of memory. */
static ngx_thread_task_t *
ngx_http_origo_new_task(ngx_http_request_t *r, ngx_http_origo_loc_conf_t *lcf)
{
    ngx_thread_task_t *task = ngx_thread_task_alloc(r->pool, sizeof(ngx_http_origo_task_ctx_t));
    ngx_http_origo_task_ctx_t *ctx;

    if (task == NULL) {
        return NULL;
    }
    ctx = task->ctx;
    ngx_memzero(ctx, sizeof(*ctx));
    ctx->r = r;
    ctx->lcf = lcf;
    ctx->uri = ngx_http_origo_cstr(r->pool, &r->uri);
    ctx->query = r->args.len > 0 ? ngx_http_origo_cstr(r->pool, &r->args) : NULL;
    ctx->method = ngx_http_origo_cstr(r->pool, &r->method_name);
    ctx->head = r->method == NGX_HTTP_HEAD;
    ctx->max_index_bytes = (uint64_t) lcf->max_index_size;
    ctx->file_check_ms = lcf->file_check == 0 ? -1 : (int) ngx_min(lcf->file_check, (ngx_msec_t) 3600000);
    if (ctx->uri == NULL || ctx->method == NULL || (r->args.len > 0 && ctx->query == NULL)) {
        return NULL;
    }
    return task;
}

/*
 * ism_proxy_pass: every path of the location is virtual. <location>/<name>/<virtual path> is
 * served from <ism_proxy_pass URL><name> through upstream reads (as mod_glue's IsmProxyPass).
 */
static ngx_int_t
ngx_http_origo_proxy_handler(ngx_http_request_t *r, ngx_http_origo_loc_conf_t *lcf)
{
    ngx_http_core_loc_conf_t *clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    ngx_http_origo_task_ctx_t *ctx;
    ngx_thread_task_t *task;
    ngx_str_t log_uri;
    char *rest, *p;
    size_t mlen, plen;
    int hops, i;
    const char *v;
    size_t vlen;
    ngx_int_t rc;

    if (ngx_strlchr(r->uri.data, r->uri.data + r->uri.len, '\0') != NULL
        || (r->args.len > 0 && ngx_strlchr(r->args.data, r->args.data + r->args.len, '\0') != NULL))
    {
        return NGX_HTTP_BAD_REQUEST;
    }
    rest = ngx_http_origo_cstr(r->pool, &r->uri);
    if (rest == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    /* The part after the location's prefix (a regex location: the whole URI). */
    plen = clcf->name.len;
    while (plen > 0 && clcf->name.data[plen - 1] == '/') {
        plen--;
    }
    if (!clcf->regex && plen <= r->uri.len && ngx_strncmp(rest, clcf->name.data, plen) == 0) {
        rest += plen;
    }
    while (*rest == '/') {
        rest++;
    }
    mlen = origo_manifest_length(rest);
    if (mlen == 0 || rest[mlen] != '/') {
        return NGX_DECLINED;
    }
    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        return ngx_http_origo_not_allowed(r);
    }
    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, ORIGO_LOGNO(10010)
                      "%V %V came with a request body: refused", &r->method_name,
                      ngx_http_origo_log_uri(r, &log_uri));
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    hops = ngx_http_origo_hops(r);
    if (hops >= lcf->max_hops) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, ORIGO_LOGNO(10009)
                      "%V has passed through Origo %d times (CDN-Loop; origo_max_hops %i): refused "
                      "as a loop; check ism_proxy_pass and the src of its server manifest",
                      ngx_http_origo_log_uri(r, &log_uri), hops, lcf->max_hops);
        return 508;
    }
    rc = ngx_http_origo_ready(r, lcf);
    if (rc != NGX_OK) {
        return rc;
    }
    task = ngx_http_origo_new_task(r, lcf);
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx = task->ctx;
    rest[mlen] = '\0';
    ctx->virtual_path = rest + mlen + 1;
    ctx->manifest_url = ngx_pnalloc(r->pool, lcf->proxy_pass.len + mlen + 1);
    /* CDN-Loop: the hops so far (at most 16) and this one. */
    ctx->cdn_loop = ngx_pnalloc(r->pool, (sizeof(ORIGO_LOOP_TOKEN) + 2) * (size_t) (hops + 1) + 1);
    v = strchr(origo_engine_version(), '/');
    vlen = v != NULL ? strcspn(v + 1, " ") : 0;
    ctx->user_agent = ngx_pnalloc(r->pool, sizeof("Origo/") + vlen);
    ctx->scope = ngx_pnalloc(r->pool, lcf->proxy_pass.len + 1 + strlen(lcf->s3_scope)
                             + (lcf->allow_hosts != NULL ? lcf->allow_hosts->nelts : 0) * (ORIGO_HOST_MAX + 24));
    if (ctx->manifest_url == NULL || ctx->cdn_loop == NULL || ctx->user_agent == NULL || ctx->scope == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    p = (char *) ngx_cpymem(ctx->manifest_url, lcf->proxy_pass.data, lcf->proxy_pass.len);
    p = (char *) ngx_cpymem(p, rest, mlen);
    *p = '\0';
    p = ctx->cdn_loop;
    for (i = 0; i <= hops; i++) {
        p = (char *) ngx_cpymem(p, i > 0 ? ", " ORIGO_LOOP_TOKEN : ORIGO_LOOP_TOKEN,
                                i > 0 ? sizeof(ORIGO_LOOP_TOKEN) + 1 : sizeof(ORIGO_LOOP_TOKEN) - 1);
    }
    *p = '\0';
    p = (char *) ngx_cpymem(ctx->user_agent, "Origo", 5);
    if (vlen > 0) {
        *p++ = '/';
        p = (char *) ngx_cpymem(p, v + 1, vlen);
    }
    *p = '\0';
    p = (char *) ngx_cpymem(ctx->scope, lcf->proxy_pass.data, lcf->proxy_pass.len);
    if (lcf->allow_hosts != NULL) {
        origo_origin *o = lcf->allow_hosts->elts;
        ngx_uint_t k;
        for (k = 0; k < lcf->allow_hosts->nelts; k++) {
            p += sprintf(p, " %s://%s:%u", o[k].https ? "https" : "http", o[k].host, o[k].port);
        }
    }
    p = stpcpy(p, lcf->s3_scope);
    (void) origo_origin_parse(ctx->manifest_url, 0, &ctx->own);
    ctx->deadline_ns = origo_now_ns() + (uint64_t) lcf->upstream_deadline * 1000000u;
    ctx->upstream.ctx = ctx;
    ctx->upstream.fetch = ngx_http_origo_fetch;
    ctx->upstream.scope = ctx->scope;
    ctx->path = ctx->manifest_url;   /* for the not-found log line */
    return ngx_http_origo_start_task(r, lcf, task);
}

static ngx_int_t
ngx_http_origo_handler(ngx_http_request_t *r)
{
    ngx_http_origo_loc_conf_t *lcf;
    ngx_http_origo_task_ctx_t *ctx;
    ngx_thread_task_t *task;
    ngx_str_t path;
    u_char *last;
    size_t root, mlen;
    char *tail;
    ngx_int_t rc;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_origo_module);
    if (ngx_http_get_module_ctx(r, ngx_http_origo_module) != NULL) {
        return NGX_DECLINED;         /* one of our upstream reads (no origo_upstream_location?) */
    }
    if (lcf->proxy_pass.data != NULL) {
        return ngx_http_origo_proxy_handler(r, lcf);
    }
    if (!lcf->handle_ism || r->uri.len == 0) {
        return NGX_DECLINED;
    }
    /* A NUL in the decoded path (%00) would cut the file name short: never ours to serve. */
    if (ngx_strlchr(r->uri.data, r->uri.data + r->uri.len, '\0') != NULL
        || (r->args.len > 0 && ngx_strlchr(r->args.data, r->args.data + r->args.len, '\0') != NULL))
    {
        return NGX_HTTP_BAD_REQUEST;
    }

    last = ngx_http_map_uri_to_path(r, &path, &root, 0);
    if (last == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (root > (size_t) (last - path.data)) {
        return NGX_DECLINED;
    }
    /* Ours when a name the engine serves is followed by a virtual path; a plain /x.mp4 is left to
       the static module. Only the name is looked at here: the disk is the thread's business. */
    tail = (char *) path.data + root;
    while (*tail == '/') {
        tail++;
    }
    mlen = origo_manifest_length(tail);
    if (mlen == 0 || tail[mlen] != '/') {
        return NGX_DECLINED;
    }

    if ((r->method == NGX_HTTP_POST || r->method == NGX_HTTP_PUT) && ngx_http_origo_is_isml(tail, mlen)) {
        return ngx_http_origo_no_ingest(r);
    }
    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        return ngx_http_origo_not_allowed(r);
    }
    rc = ngx_http_origo_ready(r, lcf);
    if (rc != NGX_OK) {
        return rc;
    }
    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    task = ngx_http_origo_new_task(r, lcf);
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    ctx = task->ctx;
    ctx->path = (char *) path.data;
    ctx->tail = (size_t) (tail - (char *) path.data);
    return ngx_http_origo_start_task(r, lcf, task);
}

static ngx_int_t
ngx_http_origo_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_core_main_conf_t *cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    ngx_http_handler_pt *h;

    /* A content-phase handler (not clcf->handler), so that what is not ours falls through to the
       static module in the same location: the seed's `location / { usp_handle_ism; }` also
       serves downloads. */
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_CONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }
    *h = ngx_http_origo_handler;

    ngx_http_origo_upstream_filters();
    return NGX_OK;
}
