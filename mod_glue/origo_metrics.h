/*
 * The status endpoint (`SetHandler origo-status`): counters of every child process of the server,
 * summed in one block of shared memory, served in Prometheus' text format.
 *
 * The parent creates the block (post_config) and keeps it across graceful restarts; children
 * inherit it and add with relaxed atomic additions: the requests the module takes, by output
 * format and final status; the time the engine took; upstream reads; and the engine's own
 * counters (caches, mapped-file faults), which it adds to directly (origo_engine.h).
 */
#ifndef ORIGO_METRICS_H
#define ORIGO_METRICS_H

#include "httpd.h"
#include "apr_time.h"

#include <stdint.h>

/* Finds or creates the shared block (parent, post_config). Logs and counts nothing on failure. */
void origo_metrics_post_config(server_rec *s, apr_pool_t *plog);

/* The engine's counter array (ORIGO_ENGINE_COUNTERS), or NULL when nothing is counted. */
uint64_t *origo_metrics_engine_counters(void);

/* Marks `r` as taken by the module; its final status is counted once it has been logged.
   `virtual_path` (what follows the manifest's path, NULL when unknown; kept, so it must live as
   long as the request) names the format of a request the engine does not answer. */
void origo_metrics_take(request_rec *r, const char *virtual_path);

/* The engine answered `r` (taken before): the answer's output format and the time it took. */
void origo_metrics_engine_answer(request_rec *r, int format, apr_interval_time_t took);

/* One upstream read: the fetch callback's return code `rc` (0: an HTTP answer with `status`
   arrived, carrying `bytes` of body, counted for 2xx answers; else the status answered for it: 504 timeout, 403 not
   allowed, others failures) and how long it took. */
void origo_metrics_upstream(int rc, int status, uint64_t bytes, apr_interval_time_t took);

/* Registers the status handler and the hook that counts finished requests. */
void origo_metrics_register(apr_pool_t *p);

#endif
