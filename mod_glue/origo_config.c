/*
 * Directive parsing and per-directory configuration merging.
 */
#include "origo_config.h"
#include "origo_url.h"

#include "apr_lib.h"
#include "apr_strings.h"
#include "http_log.h"
#include "httpd.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern module AP_MODULE_DECLARE_DATA origo_module;

/* <Directory> sections with IsmProxyPass, from the configuration pool of the last config read. */
static apr_array_header_t *proxy_directories = NULL;

/* OrigoIndexCacheSize: process-wide, so it lives outside the per-directory configuration. */
static apr_uint64_t index_cache_bytes = 0;
/* OrigoIndexCacheDir / OrigoIndexCacheDirSize: the host's shared index store (server-wide). */
static const char *index_store_dir = NULL;
static apr_uint64_t index_store_bytes = 0;
static int metrics_enabled;   /* OrigoMetrics (server config only) */

/*
 * The default of every directive left unset, in one place (README's directive reference shows the
 * same). Byte sizes left at 0 take the engine's own defaults (OrigoMaxIndexSize 256M,
 * OrigoIndexCacheSize 512M); IsmProxyPass, OrigoProxyAllowHost, OrigoUpstreamPassHeader,
 * OrigoUpstreamCAFile, OrigoUpstreamProxy and the S3 keys default to none.
 */
static const struct {
    int handle_ism;             /* UspHandleIsm off */
    int enable_subreq;          /* UspEnableSubreq on */
    int upstream_timeout;       /* OrigoUpstreamTimeout, seconds */
    int upstream_deadline;      /* OrigoUpstreamDeadline, seconds */
    int max_hops;               /* OrigoMaxHops */
    int s3_use_headers;         /* S3UseHeaders off: sign in the query string */
    const char *s3_region;      /* S3Region */
    int metrics;                /* OrigoMetrics on */
    int live_ingest;            /* OrigoLiveIngest off */
    int ingest_idle_timeout;    /* OrigoIngestIdleTimeout, seconds */
} defaults = { 0, 1, 30, 60, 2, 0, "us-east-1", 1, 0, 30 };

void origo_config_reset(void)
{
    /* pconf is cleared before every configuration read: forget the old array. */
    proxy_directories = NULL;
    index_cache_bytes = 0;
    index_store_dir = NULL;
    index_store_bytes = 0;
    metrics_enabled = defaults.metrics;
}

int origo_config_metrics_enabled(void)
{
    return metrics_enabled;
}

static const char *set_metrics(cmd_parms *cmd, void *dconf, int on)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dconf;

    if (error != NULL) {
        return error;
    }
    metrics_enabled = on;
    return NULL;
}

apr_uint64_t origo_config_index_cache_bytes(void)
{
    return index_cache_bytes;
}

const char *origo_config_index_store_dir(void)
{
    return index_store_dir;
}

apr_uint64_t origo_config_index_store_bytes(void)
{
    return index_store_bytes;
}

void *origo_create_dir_config(apr_pool_t *p, char *dir)
{
    origo_dir_config *conf = apr_pcalloc(p, sizeof(*conf));
    (void)dir;
    conf->handle_ism = -1;
    conf->max_index_set = 0;
    conf->max_index_bytes = 0;
    conf->enable_subreq = -1;
    conf->s3_use_headers = -1;
    conf->upstream_timeout = -1;
    conf->upstream_deadline = -1;
    conf->max_hops = -1;
    conf->live_ingest = -1;
    conf->ingest_idle_timeout = -1;
    conf->file_check_seconds = -1;
    return conf;
}

void *origo_merge_dir_config(apr_pool_t *p, void *base_, void *add_)
{
    const origo_dir_config *base = base_;
    const origo_dir_config *add = add_;
    origo_dir_config *merged = apr_pcalloc(p, sizeof(*merged));
    int i;

    merged->handle_ism = add->handle_ism != -1 ? add->handle_ism : base->handle_ism;
    if (add->max_index_set) {
        merged->max_index_set = 1;
        merged->max_index_bytes = add->max_index_bytes;
    }
    else {
        merged->max_index_set = base->max_index_set;
        merged->max_index_bytes = base->max_index_bytes;
    }
    if (add->proxy_url != NULL) {
        merged->proxy_url = add->proxy_url;
        merged->proxy_prefix = add->proxy_prefix;
        merged->proxy_prefix_is_dir = add->proxy_prefix_is_dir;
    }
    else {
        merged->proxy_url = base->proxy_url;
        merged->proxy_prefix = base->proxy_prefix;
        merged->proxy_prefix_is_dir = base->proxy_prefix_is_dir;
    }
    merged->enable_subreq = add->enable_subreq != -1 ? add->enable_subreq : base->enable_subreq;
    merged->upstream_timeout = add->upstream_timeout != -1 ? add->upstream_timeout : base->upstream_timeout;
    merged->upstream_deadline = add->upstream_deadline != -1 ? add->upstream_deadline : base->upstream_deadline;
    merged->max_hops = add->max_hops != -1 ? add->max_hops : base->max_hops;
    merged->live_ingest = add->live_ingest != -1 ? add->live_ingest : base->live_ingest;
    merged->ingest_max_fragment_bytes = add->ingest_max_fragment_bytes != 0 ? add->ingest_max_fragment_bytes
                                                                            : base->ingest_max_fragment_bytes;
    merged->ingest_idle_timeout = add->ingest_idle_timeout != -1 ? add->ingest_idle_timeout : base->ingest_idle_timeout;
    merged->file_check_seconds = add->file_check_seconds != -1 ? add->file_check_seconds : base->file_check_seconds;
    for (i = 0; i < ORIGO_LIVE_STATUS_COUNT; i++) {
        merged->live_fragment_status[i] = add->live_fragment_status[i] != 0 ? add->live_fragment_status[i]
                                                                            : base->live_fragment_status[i];
    }
    merged->allow_hosts = add->allow_hosts != NULL ? add->allow_hosts : base->allow_hosts;
    merged->pass_headers = add->pass_headers != NULL ? add->pass_headers : base->pass_headers;
    merged->ca_file = add->ca_file != NULL ? add->ca_file : base->ca_file;
    merged->upstream_proxy = add->upstream_proxy != NULL ? add->upstream_proxy : base->upstream_proxy;
    origo_config_merge_s3(merged, base, add);
    return merged;
}

void origo_config_merge_s3(origo_dir_config *out, const origo_dir_config *base, const origo_dir_config *add)
{
    out->s3_access_key = add->s3_access_key != NULL ? add->s3_access_key : base->s3_access_key;
    out->s3_secret_key = add->s3_secret_key != NULL ? add->s3_secret_key : base->s3_secret_key;
    out->s3_region = add->s3_region != NULL ? add->s3_region : base->s3_region;
    out->s3_security_token = add->s3_security_token != NULL ? add->s3_security_token : base->s3_security_token;
    out->s3_use_headers = add->s3_use_headers != -1 ? add->s3_use_headers : base->s3_use_headers;
}

const origo_dir_config *origo_dir_config_get(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &origo_module);
}

int origo_config_allows_origin(const origo_dir_config *conf, const origo_origin *origin)
{
    int i;

    if (conf == NULL || conf->allow_hosts == NULL) {
        return 0;
    }
    for (i = 0; i < conf->allow_hosts->nelts; i++) {
        const origo_origin *allowed = &APR_ARRAY_IDX(conf->allow_hosts, i, origo_origin);
        if (strcmp(allowed->host, "*") == 0 || origo_origin_equal(allowed, origin)) {
            return 1;
        }
    }
    return 0;
}

int origo_config_handles_ism(const origo_dir_config *conf)
{
    return conf != NULL && (conf->handle_ism != -1 ? conf->handle_ism : defaults.handle_ism) == 1;
}

int origo_config_uses_subrequests(const origo_dir_config *conf)
{
    return (conf != NULL && conf->enable_subreq != -1 ? conf->enable_subreq : defaults.enable_subreq) == 1;
}

int origo_config_s3_uses_headers(const origo_dir_config *conf)
{
    return (conf != NULL && conf->s3_use_headers != -1 ? conf->s3_use_headers : defaults.s3_use_headers) == 1;
}

const char *origo_config_s3_region(const origo_dir_config *conf)
{
    return conf != NULL && conf->s3_region != NULL ? conf->s3_region : defaults.s3_region;
}

/*
 * A byte count for `cmd`'s directive: digits with an optional binary suffix K, M or G (K = 1024).
 * Returns NULL and sets *out, or an error message.
 */
static const char *parse_byte_count(cmd_parms *cmd, const char *arg, apr_uint64_t *out)
{
    char *end = NULL;
    apr_uint64_t unit = 1;
    apr_int64_t value;

    errno = 0;
    value = apr_strtoi64(arg, &end, 10);
    if (errno != 0 || end == arg || value < 0) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": not a byte count: ", arg, NULL);
    }
    if (*end != '\0') {
        switch (*end) {
        case 'k': case 'K': unit = APR_UINT64_C(1) << 10; break;
        case 'm': case 'M': unit = APR_UINT64_C(1) << 20; break;
        case 'g': case 'G': unit = APR_UINT64_C(1) << 30; break;
        default:
            return apr_pstrcat(cmd->pool, cmd->cmd->name, ": unknown size suffix in ", arg,
                               " (use K, M or G)", NULL);
        }
        if (end[1] != '\0') {
            return apr_pstrcat(cmd->pool, cmd->cmd->name, ": trailing characters in ", arg, NULL);
        }
    }
    if ((apr_uint64_t)value > UINT64_MAX / unit) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": too large: ", arg, NULL);
    }
    *out = (apr_uint64_t)value * unit;
    return NULL;
}

/* OrigoMaxIndexSize <bytes>[K|M|G]: the largest index read into memory; 0 = engine default. */
static const char *set_max_index_size(cmd_parms *cmd, void *dconf, const char *arg)
{
    origo_dir_config *conf = dconf;
    const char *error = parse_byte_count(cmd, arg, &conf->max_index_bytes);

    if (error == NULL) {
        conf->max_index_set = 1;
    }
    return error;
}

/*
 * OrigoIndexCacheSize <bytes>[K|M|G]: parsed media indexes kept per child process; assembled
 * presentations get half as much. Only in the main server configuration: the caches are shared
 * by every virtual host of a process. 0 = engine default.
 */
static const char *set_index_cache_size(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dconf;

    if (error != NULL) {
        return error;
    }
    return parse_byte_count(cmd, arg, &index_cache_bytes);
}

/*
 * OrigoIndexCacheDir <dir>|off: the directory of the host's shared index store (docs/INDEX-STORE.md),
 * relative to ServerRoot unless absolute; the children create it when missing, so its parent must
 * be writable by the User the children run as. Server config only; default off.
 */
static const char *set_index_store_dir(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dconf;

    if (error != NULL) {
        return error;
    }
    if (strcasecmp(arg, "off") == 0 || arg[0] == '\0') {
        index_store_dir = NULL;
        return NULL;
    }
    index_store_dir = ap_server_root_relative(cmd->pool, arg);
    return index_store_dir != NULL ? NULL : "OrigoIndexCacheDir: invalid path";
}

/* OrigoIndexCacheDirSize <bytes>[K|M|G]: the store's size bound (0 = engine default, 1G). */
static const char *set_index_store_size(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    (void)dconf;

    if (error != NULL) {
        return error;
    }
    return parse_byte_count(cmd, arg, &index_store_bytes);
}

/*
 * IsmProxyPass <url>: only inside <Location> or <Directory> (their path is the virtual prefix),
 * an http:// or https:// URL ending with '/', or exactly "http://" / "https://" (the host is then
 * the first path segment after the prefix: re-streaming from any allowed host).
 */
static const char *set_proxy_pass(cmd_parms *cmd, void *dconf, const char *arg)
{
    origo_dir_config *conf = dconf;
    const char *section;
    size_t len = strlen(arg);

    if (cmd->path == NULL || cmd->directive == NULL || cmd->directive->parent == NULL) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, " must be inside <Location> or <Directory>", NULL);
    }
    section = cmd->directive->parent->directive;
    if (strcasecmp(section, "<Location") == 0) {
        conf->proxy_prefix_is_dir = 0;
    }
    else if (strcasecmp(section, "<Directory") == 0) {
        conf->proxy_prefix_is_dir = 1;
    }
    else {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, " must be inside <Location> or <Directory> "
                           "(not ", section, ">: a regular expression has no path prefix)", NULL);
    }
    if (strncasecmp(arg, "http://", 7) != 0 && strncasecmp(arg, "https://", 8) != 0) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", arg,
                           " is not an http:// or https:// URL", NULL);
    }
    if (len == 0 || arg[len - 1] != '/') {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": the URL must end with '/' (", arg,
                           " -> ", arg, "/): the request path after the prefix is appended to it", NULL);
    }
    if (strchr(arg, '?') != NULL || strchr(arg, '#') != NULL) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", arg, " must not have a query or fragment", NULL);
    }
    conf->proxy_url = apr_pstrdup(cmd->pool, arg);
    conf->proxy_prefix = apr_pstrdup(cmd->pool, cmd->path);
    if (conf->proxy_prefix_is_dir) {
        /* The directory is virtual (it must not exist), and httpd does not apply the <Directory>
           section of a path that does not exist: the handler looks these up itself. */
        if (proxy_directories == NULL) {
            proxy_directories = apr_array_make(cmd->pool, 4, sizeof(origo_dir_config *));
        }
        APR_ARRAY_PUSH(proxy_directories, origo_dir_config *) = conf;
    }
    return NULL;
}

const origo_dir_config *origo_config_proxy_directory(const request_rec *r)
{
    const char *path = r->filename;
    int i;

    if (proxy_directories == NULL || path == NULL) {
        return NULL;
    }
    for (i = 0; i < proxy_directories->nelts; i++) {
        const origo_dir_config *conf = APR_ARRAY_IDX(proxy_directories, i, origo_dir_config *);
        size_t len = strlen(conf->proxy_prefix);
        while (len > 0 && conf->proxy_prefix[len - 1] == '/') {
            len--;
        }
        if (strncmp(path, conf->proxy_prefix, len) == 0 && (path[len] == '/' || path[len] == '\0')) {
            return conf;
        }
    }
    return NULL;
}

/* A number of seconds from `least` to 3600 for `cmd`'s directive. */
static const char *parse_seconds_from(cmd_parms *cmd, const char *arg, apr_int64_t least, int *out)
{
    char *end;
    apr_int64_t seconds = apr_strtoi64(arg, &end, 10);

    if (end == arg || *end != '\0' || seconds < least || seconds > 3600) {
        return apr_psprintf(cmd->pool, "%s: give seconds between %" APR_INT64_T_FMT " and 3600, not %s",
                            cmd->cmd->name, least, arg);
    }
    *out = (int)seconds;
    return NULL;
}

/* A number of seconds (1..3600) for `cmd`'s directive. */
static const char *parse_seconds(cmd_parms *cmd, const char *arg, int *out)
{
    return parse_seconds_from(cmd, arg, 1, out);
}

static const char *set_upstream_timeout(cmd_parms *cmd, void *dconf, const char *arg)
{
    return parse_seconds(cmd, arg, &((origo_dir_config *)dconf)->upstream_timeout);
}

static const char *set_upstream_deadline(cmd_parms *cmd, void *dconf, const char *arg)
{
    return parse_seconds(cmd, arg, &((origo_dir_config *)dconf)->upstream_deadline);
}

/* OrigoFileCheckInterval <seconds>: 0 (every request) to 3600. */
static const char *set_file_check_interval(cmd_parms *cmd, void *dconf, const char *arg)
{
    return parse_seconds_from(cmd, arg, 0, &((origo_dir_config *)dconf)->file_check_seconds);
}

int origo_config_file_check_ms(const origo_dir_config *conf)
{
    if (conf == NULL || conf->file_check_seconds < 0) {
        return 0;
    }
    return conf->file_check_seconds == 0 ? -1 : conf->file_check_seconds * 1000;
}

/* A seconds directive's value (0: unset) as an interval, or its default. */
static apr_interval_time_t seconds_or(int seconds, int fallback)
{
    return apr_time_from_sec(seconds > 0 ? seconds : fallback);
}

apr_interval_time_t origo_config_upstream_timeout(const origo_dir_config *conf)
{
    return seconds_or(conf != NULL ? conf->upstream_timeout : 0, defaults.upstream_timeout);
}

apr_interval_time_t origo_config_upstream_deadline(const origo_dir_config *conf)
{
    return seconds_or(conf != NULL ? conf->upstream_deadline : 0, defaults.upstream_deadline);
}

/* OrigoMaxHops <n>: 1..16. */
static const char *set_max_hops(cmd_parms *cmd, void *dconf, const char *arg)
{
    origo_dir_config *conf = dconf;
    char *end;
    apr_int64_t hops = apr_strtoi64(arg, &end, 10);

    if (end == arg || *end != '\0' || hops < 1 || hops > 16) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": give a number between 1 and 16, not ", arg, NULL);
    }
    conf->max_hops = (int)hops;
    return NULL;
}

int origo_config_max_hops(const origo_dir_config *conf)
{
    return conf != NULL && conf->max_hops > 0 ? conf->max_hops : defaults.max_hops;
}

int origo_config_live_ingest(const origo_dir_config *conf)
{
    return conf != NULL && conf->live_ingest != -1 ? conf->live_ingest : defaults.live_ingest;
}

/* OrigoIngestMaxFragmentSize <bytes>[K|M|G]: 0 = engine default. */
static const char *set_ingest_max_fragment(cmd_parms *cmd, void *dconf, const char *arg)
{
    return parse_byte_count(cmd, arg, &((origo_dir_config *)dconf)->ingest_max_fragment_bytes);
}

static const char *set_ingest_idle_timeout(cmd_parms *cmd, void *dconf, const char *arg)
{
    return parse_seconds(cmd, arg, &((origo_dir_config *)dconf)->ingest_idle_timeout);
}

/* Fmp4<Format>Fragment<Case> <status>: cmd->info is the entry of live_fragment_status. */
static const char *set_live_fragment_status(cmd_parms *cmd, void *dconf, const char *arg)
{
    char *end = NULL;
    long status = strtol(arg, &end, 10);

    if (end == arg || *end != '\0' || status < 400 || status > 599) {
        return apr_psprintf(cmd->pool, "%s must be an HTTP status from 400 to 599, got \"%s\"", cmd->cmd->name, arg);
    }
    ((origo_dir_config *)dconf)->live_fragment_status[(size_t)cmd->info] = (int)status;
    return NULL;
}

apr_interval_time_t origo_config_ingest_idle_timeout(const origo_dir_config *conf)
{
    return seconds_or(conf != NULL ? conf->ingest_idle_timeout : 0, defaults.ingest_idle_timeout);
}

/*
 * OrigoProxyAllowHost <origin> ...: "http://host[:port]", "https://host[:port]", a bare
 * "host[:port]" (http), or "*"; a missing port is the scheme's default. Arguments and
 * directives accumulate.
 */
static const char *add_allow_host(cmd_parms *cmd, void *dconf, const char *arg)
{
    origo_dir_config *conf = dconf;
    origo_origin origin;

    if (strcmp(arg, "*") == 0) {
        memset(&origin, 0, sizeof(origin));
        strcpy(origin.host, "*");
    }
    else if (!origo_origin_parse(arg, 1, &origin)
             || (strstr(arg, "://") != NULL && strchr(strstr(arg, "://") + 3, '/') != NULL)
             || (strstr(arg, "://") == NULL && strchr(arg, '/') != NULL)) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": give http://host[:port], https://host[:port], "
                           "host[:port] or *, not ", arg, NULL);
    }
    if (conf->allow_hosts == NULL) {
        conf->allow_hosts = apr_array_make(cmd->pool, 4, sizeof(origo_origin));
    }
    APR_ARRAY_PUSH(conf->allow_hosts, origo_origin) = origin;
    return NULL;
}

/* OrigoUpstreamPassHeader <name> ...: client headers to send upstream (token characters only). */
static const char *add_pass_header(cmd_parms *cmd, void *dconf, const char *arg)
{
    origo_dir_config *conf = dconf;
    const char *c;

    if (*arg == '\0') {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": give a header name", NULL);
    }
    for (c = arg; *c != '\0'; c++) {
        if (!apr_isalnum(*c) && strchr("!#$%&'*+-.^_`|~", *c) == NULL) {
            return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", arg, " is not a header name", NULL);
        }
    }
    if (strcasecmp(arg, "Range") == 0 || strcasecmp(arg, "Host") == 0 || strcasecmp(arg, "CDN-Loop") == 0
        || strcasecmp(arg, "User-Agent") == 0 || strncasecmp(arg, "If-", 3) == 0
        || strcasecmp(arg, "Content-Length") == 0 || strcasecmp(arg, "Transfer-Encoding") == 0
        || strcasecmp(arg, "Connection") == 0 || strcasecmp(arg, "Expect") == 0) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", arg, " is set by Origo itself", NULL);
    }
    if (conf->pass_headers == NULL) {
        conf->pass_headers = apr_array_make(cmd->pool, 4, sizeof(const char *));
    }
    APR_ARRAY_PUSH(conf->pass_headers, const char *) = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

/* OrigoUpstreamCAFile <file>: must be readable when the configuration is read. */
static const char *set_ca_file(cmd_parms *cmd, void *dconf, const char *arg)
{
    origo_dir_config *conf = dconf;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_finfo_t finfo;

    if (path == NULL || apr_stat(&finfo, path, APR_FINFO_TYPE, cmd->pool) != APR_SUCCESS
        || finfo.filetype != APR_REG) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", arg, " is not a readable file", NULL);
    }
    conf->ca_file = path;
    return NULL;
}

/* OrigoUpstreamProxy <url>: http:// or https:// proxy for libcurl reads. */
static const char *set_upstream_proxy(cmd_parms *cmd, void *dconf, const char *arg)
{
    origo_dir_config *conf = dconf;
    origo_origin origin;

    if (!origo_origin_parse(arg, 0, &origin)) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": give http://host[:port] or https://host[:port], not ",
                           arg, NULL);
    }
    conf->upstream_proxy = apr_pstrdup(cmd->pool, arg);
    return NULL;
}

/* Whether `s` has a control character or a blank (none belongs in a key, region or token). */
static int has_blank_or_control(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= 0x20 || *s == 0x7f) {
            return 1;
        }
    }
    return 0;
}

/*
 * S3AccessKey, S3SecretKey, S3SecurityToken, S3Region. Error messages never repeat the value:
 * it may be a secret.
 */
static const char *set_s3_value(cmd_parms *cmd, void *dconf, const char *arg)
{
    origo_dir_config *conf = dconf;
    const char *name = cmd->cmd->name;

    if (*arg == '\0' || has_blank_or_control(arg)) {
        return apr_pstrcat(cmd->pool, name, ": the value must be non-empty, without blanks or control "
                           "characters", NULL);
    }
    if (strcasecmp(name, "S3AccessKey") == 0) {
        if (strchr(arg, '/') != NULL) {
            return apr_pstrcat(cmd->pool, name, ": an access key id has no '/'", NULL);
        }
        conf->s3_access_key = apr_pstrdup(cmd->pool, arg);
    }
    else if (strcasecmp(name, "S3SecretKey") == 0) {
        conf->s3_secret_key = apr_pstrdup(cmd->pool, arg);
    }
    else if (strcasecmp(name, "S3SecurityToken") == 0) {
        conf->s3_security_token = apr_pstrdup(cmd->pool, arg);
    }
    else {
        const char *c;
        for (c = arg; *c != '\0'; c++) {
            if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-')) {
                return apr_pstrcat(cmd->pool, name, ": ", arg, " is not a region name "
                                   "(lower-case letters, digits and '-', e.g. eu-central-1)", NULL);
            }
        }
        conf->s3_region = apr_pstrdup(cmd->pool, arg);
    }
    return NULL;
}

const command_rec origo_cmds[] = {
    AP_INIT_FLAG("UspHandleIsm", ap_set_flag_slot, (void *)APR_OFFSETOF(origo_dir_config, handle_ism), RSRC_CONF | ACCESS_CONF,
                 "On to serve virtual paths after .ism/.isml/.mp4 (and similar) files "
                 "with the Origo engine; default Off"),
    AP_INIT_TAKE1("OrigoMaxIndexSize", set_max_index_size, NULL, RSRC_CONF | ACCESS_CONF,
                  "Largest media index (moov) the engine reads into memory, in bytes "
                  "(suffix K, M or G allowed); 0 = engine default"),
    AP_INIT_TAKE1("OrigoIndexCacheSize", set_index_cache_size, NULL, RSRC_CONF,
                  "Memory for parsed media indexes per child process, in bytes (suffix K, M or G); "
                  "presentations get half as much; server config only; 0 = engine default (512M)"),
    AP_INIT_TAKE1("OrigoIndexCacheDir", set_index_store_dir, NULL, RSRC_CONF,
                  "Directory of the host's shared index store: parsed media indexes written once and "
                  "read by every child (relative to ServerRoot); server config only; default off"),
    AP_INIT_TAKE1("OrigoIndexCacheDirSize", set_index_store_size, NULL, RSRC_CONF,
                  "Size bound of OrigoIndexCacheDir, in bytes (suffix K, M or G); least recently used "
                  "files are removed beyond it; 0 = engine default (1G)"),
    AP_INIT_FLAG("OrigoMetrics", set_metrics, NULL, RSRC_CONF,
                 "On (default) counts requests, engine time, upstream reads and caches for SetHandler origo-status; Off counts nothing"),
    AP_INIT_TAKE1("IsmProxyPass", set_proxy_pass, NULL, ACCESS_CONF,
                  "Upstream base URL (with a trailing '/') that the <Location>/<Directory> path "
                  "maps onto: server manifests and media are read from there"),
    AP_INIT_FLAG("UspEnableSubreq", ap_set_flag_slot, (void *)APR_OFFSETOF(origo_dir_config, enable_subreq), RSRC_CONF | ACCESS_CONF,
                 "On (default) to read upstream objects through Apache subrequests handled by mod_proxy; "
                 "Off for the built-in HTTP/1.1 client with its own keep-alive connection pool"),
    AP_INIT_TAKE1("OrigoFileCheckInterval", set_file_check_interval, NULL, RSRC_CONF | ACCESS_CONF,
                  "Seconds a presentation's media and index files found unchanged are trusted by manifest "
                  "requests (the server manifest and the files a segment reads are checked on every "
                  "request); 0 = every request; default 1"),
    AP_INIT_TAKE1("OrigoUpstreamTimeout", set_upstream_timeout, NULL, RSRC_CONF | ACCESS_CONF,
                  "Seconds one upstream read may take in all (connect, answer and body); default 30"),
    AP_INIT_TAKE1("OrigoUpstreamDeadline", set_upstream_deadline, NULL, RSRC_CONF | ACCESS_CONF,
                  "Seconds all upstream reads of one client request may take; default 60"),
    AP_INIT_TAKE1("OrigoMaxHops", set_max_hops, NULL, RSRC_CONF | ACCESS_CONF,
                  "Requests that already passed through an Origo this many times (CDN-Loop) are "
                  "refused with 508; default 2"),
    AP_INIT_ITERATE("OrigoProxyAllowHost", add_allow_host, NULL, RSRC_CONF | ACCESS_CONF,
                    "Origins (http://host[:port], https://host[:port], or host[:port] for http) that "
                    "upstream reads may reach besides IsmProxyPass's own; '*' allows any (an open proxy)"),
    AP_INIT_ITERATE("OrigoUpstreamPassHeader", add_pass_header, NULL, RSRC_CONF | ACCESS_CONF,
                    "Client request headers sent on upstream reads (none by default: they may carry "
                    "the viewer's credentials)"),
    AP_INIT_TAKE1("OrigoUpstreamCAFile", set_ca_file, NULL, RSRC_CONF | ACCESS_CONF,
                  "CA certificates (PEM) for https upstreams with UspEnableSubreq off; default: the "
                  "system's"),
    AP_INIT_TAKE1("OrigoUpstreamProxy", set_upstream_proxy, NULL, RSRC_CONF | ACCESS_CONF,
                  "HTTP proxy for upstream reads with UspEnableSubreq off; default none"),
    AP_INIT_FLAG("OrigoLiveIngest", ap_set_flag_slot, (void *)APR_OFFSETOF(origo_dir_config, live_ingest), RSRC_CONF | ACCESS_CONF,
                 "On to accept live ingest (POST/PUT to <x>.isml/Streams(<name>)) and store it next to "
                 "the .isml; default Off. Only for encoders: never where the public can POST"),
    AP_INIT_TAKE1("OrigoIngestMaxFragmentSize", set_ingest_max_fragment, NULL, RSRC_CONF | ACCESS_CONF,
                  "Largest ingest fragment (moof + mdat) held in memory, in bytes (suffix K, M or G); "
                  "0 = engine default (64M)"),
    AP_INIT_TAKE1("OrigoIngestIdleTimeout", set_ingest_idle_timeout, NULL, RSRC_CONF | ACCESS_CONF,
                  "Seconds an ingest body may go without a byte before the connection is dropped; default 30"),
    AP_INIT_TAKE1("Fmp4IssFragmentNotFound", set_live_fragment_status, (void *)0, RSRC_CONF | ACCESS_CONF,
                  "Status for a live Smooth fragment older than the DVR window; default 404"),
    AP_INIT_TAKE1("Fmp4IssFragmentMissing", set_live_fragment_status, (void *)1, RSRC_CONF | ACCESS_CONF,
                  "Status for a live Smooth fragment in a gap of the window; default 412"),
    AP_INIT_TAKE1("Fmp4IssFragmentNotAvailable", set_live_fragment_status, (void *)2, RSRC_CONF | ACCESS_CONF,
                  "Status for a live Smooth fragment not there yet (the future); default 412"),
    AP_INIT_TAKE1("Fmp4HdsFragmentNotFound", set_live_fragment_status, (void *)3, RSRC_CONF | ACCESS_CONF,
                  "Status for a live HDS fragment older than the DVR window; default 404"),
    AP_INIT_TAKE1("Fmp4HdsFragmentMissing", set_live_fragment_status, (void *)4, RSRC_CONF | ACCESS_CONF,
                  "Status for a live HDS fragment in a gap of the window; default 503"),
    AP_INIT_TAKE1("Fmp4HdsFragmentNotAvailable", set_live_fragment_status, (void *)5, RSRC_CONF | ACCESS_CONF,
                  "Status for a live HDS fragment not there yet (the future); default 503"),
    AP_INIT_TAKE1("Fmp4HlsFragmentNotFound", set_live_fragment_status, (void *)6, RSRC_CONF | ACCESS_CONF,
                  "Status for a live HLS fragment older than the DVR window; default 404"),
    AP_INIT_TAKE1("Fmp4HlsFragmentMissing", set_live_fragment_status, (void *)7, RSRC_CONF | ACCESS_CONF,
                  "Status for a live HLS fragment in a gap of the window; default 404"),
    AP_INIT_TAKE1("Fmp4HlsFragmentNotAvailable", set_live_fragment_status, (void *)8, RSRC_CONF | ACCESS_CONF,
                  "Status for a live HLS fragment not there yet (the future); default 404"),
    AP_INIT_TAKE1("Fmp4MpdFragmentNotFound", set_live_fragment_status, (void *)9, RSRC_CONF | ACCESS_CONF,
                  "Status for a live DASH fragment older than the DVR window; default 410"),
    AP_INIT_TAKE1("Fmp4MpdFragmentMissing", set_live_fragment_status, (void *)10, RSRC_CONF | ACCESS_CONF,
                  "Status for a live DASH fragment in a gap of the window; default 404"),
    AP_INIT_TAKE1("Fmp4MpdFragmentNotAvailable", set_live_fragment_status, (void *)11, RSRC_CONF | ACCESS_CONF,
                  "Status for a live DASH fragment not there yet (the future); default 404"),
    AP_INIT_TAKE1("S3AccessKey", set_s3_value, NULL, RSRC_CONF | ACCESS_CONF,
                  "AWS access key id: upstream reads are signed with AWS Signature Version 4 "
                  "(with S3SecretKey; in <Location>, <Directory> or <Proxy>)"),
    AP_INIT_TAKE1("S3SecretKey", set_s3_value, NULL, RSRC_CONF | ACCESS_CONF,
                  "AWS secret access key for S3AccessKey (never logged)"),
    AP_INIT_TAKE1("S3Region", set_s3_value, NULL, RSRC_CONF | ACCESS_CONF,
                  "AWS region of the bucket for SigV4 signing (default us-east-1)"),
    AP_INIT_TAKE1("S3SecurityToken", set_s3_value, NULL, RSRC_CONF | ACCESS_CONF,
                  "Session token of temporary AWS credentials (sent as x-amz-security-token)"),
    AP_INIT_FLAG("S3UseHeaders", ap_set_flag_slot, (void *)APR_OFFSETOF(origo_dir_config, s3_use_headers), RSRC_CONF | ACCESS_CONF,
                 "On to sign upstream reads with an Authorization header, Off (default) to sign "
                 "them in the query string"),
    { NULL }
};
