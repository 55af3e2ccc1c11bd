/*
 * Directives of mod_origo and the per-directory configuration they fill in.
 */
#ifndef ORIGO_CONFIG_H
#define ORIGO_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include "origo_engine.h"

/* Per-directory (and per-location) configuration. Fields start "unset" so that merging inherits. */
typedef struct origo_dir_config {
    int handle_ism;                 /* UspHandleIsm: 1 on, 0 off, -1 unset (= off) */
    int max_index_set;              /* whether OrigoMaxIndexSize was given in this scope */
    apr_uint64_t max_index_bytes;   /* OrigoMaxIndexSize; 0 lets the engine choose */
    /* IsmProxyPass: upstream base URL (ends with '/'), or NULL. `proxy_prefix` is the path of the
       <Location> (URL path) or <Directory> (file system path) it was given in; the part of the
       request after that prefix is appended to the URL. */
    const char *proxy_url;
    const char *proxy_prefix;
    int proxy_prefix_is_dir;
    int enable_subreq;              /* UspEnableSubreq: 1 on, 0 off, -1 unset (= on) */
    /* OrigoProxyAllowHost: origins (origo_origin: scheme, host, port) upstream reads may reach
       besides IsmProxyPass's own; an entry with host "*" allows any. NULL when never set here. */
    apr_array_header_t *allow_hosts;
    /* OrigoUpstreamPassHeader: names of client request headers sent upstream; NULL when never
       set in this scope (none are). */
    apr_array_header_t *pass_headers;
    /* S3AccessKey, S3SecretKey, S3Region, S3SecurityToken: NULL when not set in this scope.
       Upstream reads are signed (AWS SigV4) when the merged access and secret key are set. The
       secret is never logged. Also valid inside <Proxy>/<ProxyMatch>: see origo_s3_apache.h. */
    const char *s3_access_key;
    const char *s3_secret_key;
    const char *s3_region;
    const char *s3_security_token;
    int s3_use_headers;             /* S3UseHeaders: 1 on (Authorization header), 0 off (query
                                       string), -1 unset (= off) */
    /* OrigoUpstreamTimeout: seconds one upstream read may take in all (connect, answer, body),
       in both modes; -1 unset (= 30). */
    int upstream_timeout;
    /* OrigoUpstreamDeadline: seconds all upstream reads of one client request may take; -1 unset
       (= 60). */
    int upstream_deadline;
    /* OrigoMaxHops: requests that passed through an Origo this many times (CDN-Loop) are refused
       with 508; -1 unset (= 2). */
    int max_hops;
    /* OrigoUpstreamCAFile and OrigoUpstreamProxy (libcurl, UspEnableSubreq off): NULL unset. */
    const char *ca_file;
    const char *upstream_proxy;
    /* OrigoLiveIngest: POST/PUT to <x>.isml/Streams(...) writes a live stream next to the .isml;
       1 on, 0 off, -1 unset (= off: anyone who may POST there may fill the disk). */
    int live_ingest;
    /* OrigoIngestMaxFragmentSize: largest moof + mdat the engine buffers; 0 unset (= engine's 64M). */
    apr_uint64_t ingest_max_fragment_bytes;
    /* OrigoIngestIdleTimeout: seconds an ingest body may go without a byte; -1 unset (= 30). */
    int ingest_idle_timeout;
    /* OrigoFileCheckInterval: seconds a presentation's media files found unchanged are trusted by
       manifest requests (0: checked on every request); -1 unset (= the engine's 1 s). */
    int file_check_seconds;
    /* Fmp4{Iss,Hds,Hls,Mpd}Fragment{NotFound,Missing,NotAvailable}: statuses for live fragments
       outside the window, in origo_request.live_fragment_status order; 0 unset (= engine default). */
    int live_fragment_status[ORIGO_LIVE_STATUS_COUNT];
} origo_dir_config;

/* origo_request.file_check_interval_ms for `conf` (0: the engine's default). */
int origo_config_file_check_ms(const origo_dir_config *conf);

/* OrigoIndexCacheSize (server config only: the caches are per process): bytes, 0 = default. */
apr_uint64_t origo_config_index_cache_bytes(void);
/* OrigoIndexCacheDir (NULL: off) and OrigoIndexCacheDirSize (0: engine default). */
const char *origo_config_index_store_dir(void);
apr_uint64_t origo_config_index_store_bytes(void);

/* OrigoMetrics (server config only): whether the status counters are kept (default on). */
int origo_config_metrics_enabled(void);

/* The directive table registered by the module. */
extern const command_rec origo_cmds[];

/* Per-directory config constructor and merger for the module record. */
void *origo_create_dir_config(apr_pool_t *p, char *dir);
void *origo_merge_dir_config(apr_pool_t *p, void *base, void *add);

/* The effective configuration of a request (never NULL once the module is loaded). */
const origo_dir_config *origo_dir_config_get(const request_rec *r);

/* Whether OrigoProxyAllowHost lets upstream reads reach `origin`. */
struct origo_origin;
int origo_config_allows_origin(const origo_dir_config *conf, const struct origo_origin *origin);

/*
 * The configuration of the <Directory> with IsmProxyPass that contains r->filename, or NULL.
 * Such directories are virtual: httpd does not apply their sections, so the handler asks here.
 */
const origo_dir_config *origo_config_proxy_directory(const request_rec *r);

/* Forgets what the previous configuration read registered (called from pre_config). */
void origo_config_reset(void);

/* Merges the S3* fields of `add` over `base` into `out` (field by field: a set field wins). */
void origo_config_merge_s3(origo_dir_config *out, const origo_dir_config *base, const origo_dir_config *add);

/* The effective values of directives with a default (see the table in origo_config.c). */
int origo_config_handles_ism(const origo_dir_config *conf);        /* UspHandleIsm */
int origo_config_uses_subrequests(const origo_dir_config *conf);   /* UspEnableSubreq */
int origo_config_s3_uses_headers(const origo_dir_config *conf);    /* S3UseHeaders */
const char *origo_config_s3_region(const origo_dir_config *conf);  /* S3Region */

/* The time one upstream read may take (OrigoUpstreamTimeout). */
apr_interval_time_t origo_config_upstream_timeout(const origo_dir_config *conf);

/* The time all upstream reads of one client request may take (OrigoUpstreamDeadline). */
apr_interval_time_t origo_config_upstream_deadline(const origo_dir_config *conf);

/* OrigoMaxHops of this configuration. */
int origo_config_max_hops(const origo_dir_config *conf);

int origo_config_live_ingest(const origo_dir_config *conf);                        /* OrigoLiveIngest */
apr_interval_time_t origo_config_ingest_idle_timeout(const origo_dir_config *conf); /* OrigoIngestIdleTimeout */

#endif
