/*
 * S3 signing of upstream requests (S3AccessKey, S3SecretKey, S3Region, S3SecurityToken,
 * S3UseHeaders): the Apache side. See origo_s3_apache.h; the signature is origo_s3.c's.
 *
 * <Proxy> sections: mod_proxy merges them into a request's configuration only for requests it
 * maps itself (its map_to_storage hook). Our upstream subrequests are mapped as the main request's
 * URI and turned into proxy requests afterwards, so origo_s3_config_for_url walks mod_proxy's list
 * of sections (the same matching as mod_proxy: regex, fnmatch or prefix) and takes our module's
 * configuration from each matching one.
 */
#include "origo_s3_apache.h"

#include "mod_proxy.h"

#include "apr_fnmatch.h"
#include "apr_strings.h"
#include "apr_uri.h"
#include "http_config.h"
#include "http_log.h"
#include "http_request.h"

#include <string.h>
#include <strings.h>

#include "origo_bridge.h"
#include "origo_s3.h"

APLOG_USE_MODULE(origo);
extern module AP_MODULE_DECLARE_DATA origo_module;

/* Lifetime of a query-string signature: the request is sent at once, a little slack for clocks. */
#define ORIGO_S3_QUERY_EXPIRES 300

static int has_s3_fields(const origo_dir_config *c)
{
    return c->s3_access_key != NULL || c->s3_secret_key != NULL || c->s3_region != NULL
        || c->s3_security_token != NULL || c->s3_use_headers != -1;
}

int origo_s3_enabled(const origo_dir_config *conf)
{
    return conf != NULL && conf->s3_access_key != NULL && conf->s3_secret_key != NULL;
}

static module *proxy_module_record(void)
{
    return ap_find_linked_module("mod_proxy.c");
}

const origo_dir_config *origo_s3_config_for_url(request_rec *r, const origo_dir_config *conf, const char *url)
{
    module *proxy = proxy_module_record();
    proxy_server_conf *sconf;
    ap_conf_vector_t **sections;
    origo_dir_config *merged = NULL;
    int i;

    if (proxy == NULL || url == NULL) {
        return conf;
    }
    sconf = ap_get_module_config(r->server->module_config, proxy);
    if (sconf == NULL || sconf->sec_proxy == NULL) {
        return conf;
    }
    sections = (ap_conf_vector_t **)sconf->sec_proxy->elts;
    for (i = 0; i < sconf->sec_proxy->nelts; i++) {
        proxy_dir_conf *section = ap_get_module_config(sections[i], proxy);
        const origo_dir_config *ours = ap_get_module_config(sections[i], &origo_module);
        int matches;

        if (section == NULL || ours == NULL || !has_s3_fields(ours)) {
            continue;
        }
        if (section->r != NULL) {
            matches = ap_regexec(section->r, url, 0, NULL, 0) == 0;
        }
        else if (section->p == NULL) {
            matches = 0;
        }
        else if (section->p_is_fnmatch) {
            matches = apr_fnmatch(section->p, url, 0) == APR_SUCCESS;
        }
        else {
            matches = strncmp(url, section->p, strlen(section->p)) == 0;
        }
        if (!matches) {
            continue;
        }
        if (merged == NULL) {
            merged = apr_pmemdup(r->pool, conf, sizeof(*conf));
        }
        origo_config_merge_s3(merged, merged, ours);
    }
    return merged != NULL ? merged : conf;
}

/* The Host header mod_proxy will send for `uri` (see ap_proxy_create_hdrbrgd). */
static const char *proxy_host_header(request_rec *pr, const apr_uri_t *uri)
{
    module *proxy = proxy_module_record();
    proxy_dir_conf *dconf = proxy != NULL ? ap_get_module_config(pr->per_dir_config, proxy) : NULL;
    const char *host = uri->hostname;

    if (dconf != NULL && dconf->preserve_host) {
        const char *incoming = apr_table_get(pr->headers_in, "Host");
        return incoming != NULL ? incoming : pr->server->server_hostname;
    }
    if (strchr(host, ':') != NULL) {
        host = apr_pstrcat(pr->pool, "[", host, "]", NULL);
    }
    if (uri->port_str != NULL && uri->port != DEFAULT_HTTP_PORT) {
        host = apr_pstrcat(pr->pool, host, ":", uri->port_str, NULL);
    }
    return host;
}

/* apr_table_do callback: collects the names of x-amz-* headers. */
static int collect_amz(void *rec, const char *key, const char *value)
{
    (void)value;
    if (strncasecmp(key, "x-amz-", 6) == 0) {
        APR_ARRAY_PUSH((apr_array_header_t *)rec, const char *) = key;
    }
    return 1;
}

const char *origo_s3_sign_get(apr_pool_t *p, const origo_dir_config *s3, const char *method, const char *url,
                              const char *host, origo_s3_signature *out)
{
    origo_s3_credentials cred;
    origo_s3_request req;
    origo_s3_signed signed_;
    const char *query = strchr(url, '?');
    int rc;

    memset(out, 0, sizeof(*out));
    /* Whatever query the URL has came from a client or a manifest, never from the operator's
       bucket policy: none is signed (?versionId=, ?acl, ?torrent would read what was not meant). */
    if (query != NULL) {
        url = apr_pstrmemdup(p, url, (apr_size_t)(query - url));
    }
    out->wire_url = url;
    memset(&cred, 0, sizeof(cred));
    cred.access_key = s3->s3_access_key;
    cred.secret_key = s3->s3_secret_key;
    cred.region = origo_config_s3_region(s3);
    cred.security_token = s3->s3_security_token;
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.url = url;
    req.host = host;
    req.payload_hash = ORIGO_S3_EMPTY_SHA256;
    req.when = (time_t)apr_time_sec(apr_time_now());
    req.mode = origo_config_s3_uses_headers(s3) ? ORIGO_S3_HEADERS : ORIGO_S3_QUERY;
    req.expires = ORIGO_S3_QUERY_EXPIRES;

    rc = origo_s3_sign(&cred, &req, &signed_);
    if (rc != ORIGO_S3_OK) {
        return apr_psprintf(p, "S3 signing with access key %s failed (%s)", s3->s3_access_key,
                            rc == ORIGO_S3_BAD_INPUT ? "unusable URL or credentials" : "out of memory");
    }
    if (req.mode == ORIGO_S3_HEADERS) {
        out->authorization = apr_pstrdup(p, signed_.authorization);
        out->amz_date = apr_pstrdup(p, signed_.amz_date);
        out->content_sha256 = apr_pstrdup(p, signed_.payload_hash);
        out->security_token = s3->s3_security_token;
    }
    else {
        out->wire_url = apr_pstrdup(p, signed_.url);
    }
    origo_s3_signed_free(&signed_);
    return NULL;
}

void origo_s3_set_headers(apr_pool_t *p, apr_table_t *headers, const origo_s3_signature *sig)
{
    apr_array_header_t *amz = apr_array_make(p, 4, sizeof(const char *));
    int i;

    /* Nothing of a client's credentials goes upstream with ours. */
    apr_table_unset(headers, "Authorization");
    apr_table_do(collect_amz, amz, headers, NULL);
    for (i = 0; i < amz->nelts; i++) {
        apr_table_unset(headers, APR_ARRAY_IDX(amz, i, const char *));
    }
    if (sig->authorization != NULL) {
        apr_table_set(headers, "Authorization", sig->authorization);
        apr_table_set(headers, "x-amz-date", sig->amz_date);
        apr_table_set(headers, "x-amz-content-sha256", sig->content_sha256);
        if (sig->security_token != NULL) {
            apr_table_set(headers, "x-amz-security-token", sig->security_token);
        }
    }
}

const char *origo_s3_sign_proxy_request(request_rec *pr, const origo_dir_config *s3, const char *url,
                                        const char **wire_url)
{
    origo_s3_signature sig;
    const char *error;
    apr_uri_t uri;

    *wire_url = url;
    if (apr_uri_parse(pr->pool, url, &uri) != APR_SUCCESS || uri.hostname == NULL || *uri.hostname == '\0') {
        return "S3 signing: not an absolute URL";
    }
    /* GET, or HEAD for a client's HEAD through ProxyPass. */
    error = origo_s3_sign_get(pr->pool, s3, pr->method, url, proxy_host_header(pr, &uri), &sig);
    if (error != NULL) {
        return error;
    }
    origo_s3_set_headers(pr->pool, pr->headers_in, &sig);
    *wire_url = sig.wire_url;
    return NULL;
}

const char *origo_s3_scope(apr_pool_t *p, const origo_dir_config *conf)
{
    char fingerprint[17];

    if (!origo_s3_enabled(conf)) {
        return "";
    }
    origo_s3_fingerprint(conf->s3_secret_key, fingerprint);
    return apr_pstrcat(p, " s3=", conf->s3_access_key, "/", conf->s3_region != NULL ? conf->s3_region : "",
                       "/", fingerprint, NULL);
}

/* Ordinary mod_proxy requests: sign after mod_proxy's own fixup made the final URL. */
static int origo_s3_fixup(request_rec *r)
{
    const origo_dir_config *conf;
    const char *url, *wire, *error;

    if (r->proxyreq == PROXYREQ_NONE || r->filename == NULL || strncmp(r->filename, "proxy:", 6) != 0) {
        return DECLINED;
    }
    conf = ap_get_module_config(r->per_dir_config, &origo_module);
    if (!origo_s3_enabled(conf)) {
        return DECLINED;
    }
    url = r->filename + 6;
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        /* Only bodiless reads are signed (the payload hash is that of an empty body). */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10303)
                      "S3 signing covers GET and HEAD only; refusing %s %s", r->method, r->uri);
        return HTTP_METHOD_NOT_ALLOWED;
    }
    error = origo_s3_sign_proxy_request(r, conf, url, &wire);
    if (error != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10302) "%s for %s", error, r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    r->filename = apr_pstrcat(r->pool, "proxy:", wire, NULL);
    r->args = NULL;
    return DECLINED;
}

void origo_s3_register(apr_pool_t *p)
{
    static const char *const after[] = { "mod_proxy.c", NULL };
    (void)p;
    ap_hook_fixups(origo_s3_fixup, NULL, after, APR_HOOK_LAST);
}
