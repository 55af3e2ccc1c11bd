/*
 * The bridge between Apache's request_rec and the engine's plain C request/response.
 */
#ifndef ORIGO_BRIDGE_H
#define ORIGO_BRIDGE_H

#include "httpd.h"
#include "origo_config.h"
#include "origo_engine.h"

/* Prefix for our error-log message numbers, in the style of httpd's APLOGNO(). */
#define ORIGO_LOGNO(n) "ORIGO" #n ": "

/*
 * Fills `out` from the request. Strings point into the request (valid for its lifetime).
 * The caller has checked that r->path_info is non-empty.
 */
void origo_bridge_make_request(request_rec *r, const origo_dir_config *conf, origo_request *out);

/*
 * Turns the engine's answer into the HTTP response: headers, conditional checks, the body
 * as a bucket brigade. Takes ownership of `resp` (released with the request pool).
 * Returns what the handler should return (OK, or an HTTP status for Apache to answer).
 */
int origo_bridge_respond(request_rec *r, origo_response *resp);

/* Origo answers GET (which also announces HEAD) and lets the core answer OPTIONS: sets Allow and
   returns OK for GET/HEAD, DECLINED for OPTIONS, 405 for anything else. */
int origo_bridge_get_only(request_rec *r);

#endif
