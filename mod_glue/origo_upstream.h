/*
 * Upstream reads for the engine (IsmProxyPass): with UspEnableSubreq on (the default) each fetch is
 * an Apache subrequest handled by mod_proxy, so <Proxy>/ProxySet connection pools, mod_cache and
 * balancers apply; with it off, the built-in client of origo_http.c.
 */
#ifndef ORIGO_UPSTREAM_H
#define ORIGO_UPSTREAM_H

#include "httpd.h"
#include "origo_config.h"
#include "origo_engine.h"

/* The CDN-Loop token (RFC 8586) Origo adds to every upstream read, once per hop. */
#define ORIGO_LOOP_TOKEN "origo"

/* Registers the capture and guard filters and the guard's pre_connection hook (register_hooks). */
void origo_upstream_register(apr_pool_t *p);

/* How many Origo hops the request has passed through (its CDN-Loop header's "origo" tokens). */
int origo_upstream_hops(request_rec *r);

/*
 * Fills `out` with the callback table for request `r` (allocated from r->pool; valid while the
 * request lives). Reads are limited to the origins the configuration allows, carry only the
 * headers the configuration names, and end by the configured deadlines.
 */
void origo_upstream_for_request(request_rec *r, const origo_dir_config *conf, origo_upstream *out);

/*
 * Maps the request onto its upstream server manifest for IsmProxyPass: sets *manifest_url (the
 * URL without query) and *virtual_path. Returns OK, or DECLINED when the path has no
 * "<name>.<ext>/" manifest boundary, or HTTP_NOT_FOUND when it is outside the configured prefix.
 */
int origo_upstream_map(request_rec *r, const origo_dir_config *conf, const char **manifest_url,
                       const char **virtual_path);

#endif
