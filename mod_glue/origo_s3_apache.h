/*
 * S3 signing of upstream requests in Apache terms: which S3* settings apply to a URL (the
 * request's own plus those of matching <Proxy>/<ProxyMatch> sections), and signing a mod_proxy
 * request in place. The signature itself comes from the pure core in origo_s3.c.
 */
#ifndef ORIGO_S3_APACHE_H
#define ORIGO_S3_APACHE_H

#include "httpd.h"
#include "origo_config.h"

/*
 * The S3 settings for an upstream read of `url` made on behalf of a request whose configuration
 * is `conf`: conf's S3* fields, overridden field by field by every <Proxy>/<ProxyMatch> section
 * that matches `url` (matched and ordered like mod_proxy's own walk), so a <Proxy> section for a
 * bucket wins over a <Location>. Returns `conf` itself when no section adds anything.
 */
const origo_dir_config *origo_s3_config_for_url(request_rec *r, const origo_dir_config *conf, const char *url);

/* Whether S3 signing is configured (an access key and a secret key). */
int origo_s3_enabled(const origo_dir_config *conf);

/* A signed read: the URL to send and, with S3UseHeaders on, the headers to send with it. */
typedef struct origo_s3_signature {
    const char *wire_url;        /* the URL without its query, plus X-Amz-* in query mode */
    const char *authorization;   /* header mode only (else NULL), with the three below */
    const char *amz_date;
    const char *content_sha256;
    const char *security_token;  /* x-amz-security-token, or NULL */
} origo_s3_signature;

/*
 * Signs a bodiless `method` (GET, HEAD) of `url`, sent with the Host header `host`. The URL's
 * query is dropped first: no query from a client or a manifest is ever signed. Returns NULL, or
 * a reason for the error log that names the access key id at most.
 */
const char *origo_s3_sign_get(apr_pool_t *p, const origo_dir_config *s3, const char *method, const char *url,
                              const char *host, origo_s3_signature *out);

/*
 * Puts a signature into the headers of a read: drops every Authorization and x-amz-* header there
 * (inherited from, or passed on for, a client), then in header mode sets Authorization,
 * x-amz-date, x-amz-content-sha256 (and x-amz-security-token).
 */
void origo_s3_set_headers(apr_pool_t *p, apr_table_t *headers, const origo_s3_signature *sig);

/*
 * Signs the proxy request `pr` that will fetch `url` (origo_s3_sign_get, origo_s3_set_headers on
 * its headers). *wire_url is the URL to send. Returns NULL, or a reason for the error log.
 */
const char *origo_s3_sign_proxy_request(request_rec *pr, const origo_dir_config *s3, const char *url,
                                        const char **wire_url);

/*
 * The S3 part of the engine's cache scope for a request with configuration `conf`: "" without
 * credentials, else " s3=<access key>/<region>/<secret fingerprint>", so that a presentation read
 * with one set of credentials is never served where other (or no) credentials are configured.
 */
const char *origo_s3_scope(apr_pool_t *p, const origo_dir_config *conf);

/* A fixups hook (registered from register_hooks): signs ordinary mod_proxy requests (ProxyPass,
   RewriteRule [P]) whose configuration has S3 credentials, as mod_unified_s3_auth does. */
void origo_s3_register(apr_pool_t *p);

#endif
