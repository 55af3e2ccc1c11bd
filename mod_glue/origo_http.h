/*
 * The built-in upstream client (UspEnableSubreq off): HTTP/1.1 GETs over APR sockets with a small
 * per-process pool of kept-alive connections, keyed by host:port. http only.
 */
#ifndef ORIGO_HTTP_H
#define ORIGO_HTTP_H

#include "httpd.h"
#include "origo_engine.h"

/* Creates the connection pool of this process (called from child_init). */
void origo_http_child_init(apr_pool_t *pchild);

/*
 * One GET of `url` (http://host[:port]/path[?query]) with the engine's fetch semantics: `length`
 * bytes from `offset` as a Range (none when both are 0), a 200 to a ranged request cut down to the
 * wanted bytes. Returns 0 when an HTTP answer arrived (out->status set) or the status to answer
 * the client with: 502 (refused, reset, malformed or short answer), 504 (timeout); out->error then
 * says why. `timeout` applies to connecting and to every read and write.
 */
int origo_http_fetch(request_rec *r, const char *url, apr_uint64_t offset, apr_uint64_t length,
                     apr_interval_time_t timeout, origo_fetch_result *out);

/* Connections this process opened so far (for debug logging). */
apr_uint64_t origo_http_connections_opened(void);

#endif
