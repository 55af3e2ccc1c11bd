/*
 * The status endpoint: counters shared by all children, in Prometheus' text format (version
 * 0.0.4). See origo_metrics.h.
 */
#include "origo_metrics.h"

#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "apr_shm.h"
#include "apr_strings.h"

#include <string.h>

#include "origo_bridge.h"
#include "origo_config.h"
#include "origo_engine.h"

extern module AP_MODULE_DECLARE_DATA origo_module;

/* Upper bounds of the latency histograms' buckets, in microseconds (then +Inf). */
static const apr_interval_time_t bucket_bounds[] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000,
};
#define BUCKETS (sizeof(bucket_bounds) / sizeof(bucket_bounds[0]) + 1)

/* Latency observations: per bucket (not cumulative; the last is +Inf) and the sum. */
typedef struct histogram {
    uint64_t bucket[BUCKETS];
    uint64_t sum_usec;
} histogram;

enum { UPSTREAM_TIMEOUT, UPSTREAM_NOT_ALLOWED, UPSTREAM_FAILED, UPSTREAM_ERROR_KINDS };
static const char *const upstream_error_names[UPSTREAM_ERROR_KINDS] = { "timeout", "not_allowed", "failed" };
static const char *const format_names[ORIGO_OUTPUT_FORMATS] = { "other", "hls", "dash", "smooth", "hds" };

#define STATUS_CODES 600   /* HTTP statuses 100-599 by number; anything else counts as 0 */
#define BLOCK_MAGIC UINT64_C(0x6f7269676f010006) /* "origo", layout 1, ABI 6 */

/* The shared block. Only ever added to (relaxed atomics) and read; never reset while it lives. */
typedef struct metrics_block {
    uint64_t magic;
    uint64_t size;
    apr_time_t created;
    uint64_t requests[ORIGO_OUTPUT_FORMATS][STATUS_CODES];
    histogram engine_time[ORIGO_OUTPUT_FORMATS];
    uint64_t upstream_requests;
    uint64_t upstream_responses[6];         /* by status class: [2] = 2xx ...; [0] anything else */
    uint64_t upstream_errors[UPSTREAM_ERROR_KINDS];
    uint64_t upstream_bytes;
    histogram upstream_time;
    uint64_t engine[ORIGO_ENGINE_COUNTERS];
} metrics_block;

/* Set in the parent and inherited by children; NULL when counting is off or failed. */
static metrics_block *block;

/* What the module noted about a request it took (r->request_config). */
typedef struct request_note {
    const char *virtual_path;   /* names the format when the engine did not answer */
    int format;                 /* the engine's answer's, once engine_ran */
    int engine_ran;
    apr_interval_time_t engine_time;
} request_note;

static const char userdata_key[] = "origo-metrics-block";

static void add(uint64_t *counter, uint64_t delta)
{
    __atomic_fetch_add(counter, delta, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static void observe(histogram *h, apr_interval_time_t took)
{
    size_t i = 0;

    if (took < 0) {
        took = 0;
    }
    while (i < BUCKETS - 1 && took > bucket_bounds[i]) {
        i++;
    }
    add(&h->bucket[i], 1);
    add(&h->sum_usec, (uint64_t)took);
}

void origo_metrics_post_config(server_rec *s, apr_pool_t *plog)
{
    apr_pool_t *keep = s->process->pool;
    apr_shm_t *shm = NULL;
    void *kept = NULL;
    apr_status_t rv;

    block = NULL;
    if (!origo_config_metrics_enabled()) {
        return;
    }
    /* Kept in the process pool: a graceful restart keeps counting where it was. */
    apr_pool_userdata_get(&kept, userdata_key, keep);
    if (kept != NULL) {
        metrics_block *old = apr_shm_baseaddr_get(kept);
        if (old->magic == BLOCK_MAGIC && old->size == sizeof(*old)) {
            block = old;
            return;
        }
    }
    rv = apr_shm_create(&shm, sizeof(metrics_block), NULL, keep);
    if (rv != APR_SUCCESS) {
        ap_log_perror(APLOG_MARK, APLOG_ERR, rv, plog, ORIGO_LOGNO(10011)
                      "cannot create %" APR_SIZE_T_FMT " bytes of shared memory for the status counters: "
                      "nothing is counted", sizeof(metrics_block));
        return;
    }
    block = apr_shm_baseaddr_get(shm);
    memset(block, 0, sizeof(*block));
    block->magic = BLOCK_MAGIC;
    block->size = sizeof(*block);
    block->created = apr_time_now();
    apr_pool_userdata_set(shm, userdata_key, apr_pool_cleanup_null, keep);
}

uint64_t *origo_metrics_engine_counters(void)
{
    return block != NULL ? block->engine : NULL;
}

void origo_metrics_take(request_rec *r, const char *virtual_path)
{
    request_note *note;

    if (block == NULL || ap_get_module_config(r->request_config, &origo_module) != NULL) {
        return;
    }
    note = apr_pcalloc(r->pool, sizeof(*note));
    note->virtual_path = virtual_path;
    ap_set_module_config(r->request_config, &origo_module, note);
}

void origo_metrics_engine_answer(request_rec *r, int format, apr_interval_time_t took)
{
    request_note *note = block != NULL ? ap_get_module_config(r->request_config, &origo_module) : NULL;

    if (note != NULL) {
        note->engine_ran = 1;
        note->format = format;
        note->engine_time += took;
    }
}

void origo_metrics_upstream(int rc, int status, uint64_t bytes, apr_interval_time_t took)
{
    if (block == NULL) {
        return;
    }
    add(&block->upstream_requests, 1);
    observe(&block->upstream_time, took);
    if (rc != 0) {
        add(&block->upstream_errors[rc == HTTP_GATEWAY_TIME_OUT ? UPSTREAM_TIMEOUT
                                    : rc == HTTP_FORBIDDEN ? UPSTREAM_NOT_ALLOWED : UPSTREAM_FAILED], 1);
        return;
    }
    add(&block->upstream_responses[status >= 100 && status < 600 ? status / 100 : 0], 1);
    if (status >= 200 && status < 300) {
        add(&block->upstream_bytes, bytes);
    }
}

/* Counts a request the module took, with the status the client got (after ErrorDocument). */
static int count_request(request_rec *r)
{
    const request_note *note = block != NULL ? ap_get_module_config(r->request_config, &origo_module) : NULL;
    const request_rec *last = r;
    int status, format;

    if (note == NULL) {
        return DECLINED;
    }
    /* Requests the module refused itself are named by their path's shape. */
    format = note->engine_ran ? note->format
             : note->virtual_path != NULL ? origo_output_format(note->virtual_path) : ORIGO_FORMAT_OTHER;
    if (format < 0 || format >= ORIGO_OUTPUT_FORMATS) {
        format = ORIGO_FORMAT_OTHER;
    }
    while (last->next != NULL) {
        last = last->next;
    }
    status = last->status >= 100 && last->status < STATUS_CODES ? last->status : 0;
    add(&block->requests[format][status], 1);
    if (note->engine_ran) {
        observe(&block->engine_time[format], note->engine_time);
    }
    return DECLINED;
}

/* ------------------------------------------------------------------------------------------ */
/* Exposition                                                                                  */

static void print_histogram(request_rec *r, const char *name, const char *labels, const histogram *h)
{
    uint64_t cumulative = 0;
    size_t i;

    for (i = 0; i < BUCKETS; i++) {
        cumulative += load(&h->bucket[i]);
        if (i < BUCKETS - 1) {
            ap_rprintf(r, "%s_bucket{%s%sle=\"%g\"} %" APR_UINT64_T_FMT "\n", name, labels, *labels ? "," : "",
                       (double)bucket_bounds[i] / 1e6, cumulative);
        } else {
            ap_rprintf(r, "%s_bucket{%s%sle=\"+Inf\"} %" APR_UINT64_T_FMT "\n", name, labels, *labels ? "," : "",
                       cumulative);
        }
    }
    if (*labels) {
        ap_rprintf(r, "%s_sum{%s} %.6f\n%s_count{%s} %" APR_UINT64_T_FMT "\n", name, labels,
                   (double)load(&h->sum_usec) / 1e6, name, labels, cumulative);
    } else {
        ap_rprintf(r, "%s_sum %.6f\n%s_count %" APR_UINT64_T_FMT "\n", name, (double)load(&h->sum_usec) / 1e6,
                   name, cumulative);
    }
}

static void print_metric(request_rec *r, const char *name, const char *type, const char *help)
{
    ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The engine's counters (enum origo_engine_counter): one row each. */
static const struct {
    int counter;
    const char *name, *type, *help;
} engine_metrics[] = {
    { ORIGO_COUNTER_INDEX_CACHE_HITS, "origo_index_cache_hits_total", "counter",
      "Media index lookups that found the parsed index in the process's cache." },
    { ORIGO_COUNTER_INDEX_CACHE_MISSES, "origo_index_cache_misses_total", "counter",
      "Media index lookups that had to read and parse the file." },
    { ORIGO_COUNTER_INDEX_CACHE_EVICTIONS, "origo_index_cache_evictions_total", "counter",
      "Parsed indexes dropped to stay within OrigoIndexCacheSize." },
    { ORIGO_COUNTER_INDEX_CACHE_BYTES, "origo_index_cache_bytes", "gauge",
      "Bytes of parsed indexes held, summed over live processes." },
    { ORIGO_COUNTER_INDEX_CACHE_ENTRIES, "origo_index_cache_entries", "gauge",
      "Parsed indexes held, summed over live processes." },
    { ORIGO_COUNTER_PRESENTATION_CACHE_HITS, "origo_presentation_cache_hits_total", "counter",
      "Presentation lookups that found one in the process's cache." },
    { ORIGO_COUNTER_PRESENTATION_CACHE_MISSES, "origo_presentation_cache_misses_total", "counter",
      "Presentation lookups that found none." },
    { ORIGO_COUNTER_PRESENTATION_CACHE_EVICTIONS, "origo_presentation_cache_evictions_total", "counter",
      "Presentations dropped to stay within the presentation cache's size." },
    { ORIGO_COUNTER_PRESENTATION_CACHE_BYTES, "origo_presentation_cache_bytes", "gauge",
      "Bytes of presentations held, summed over live processes." },
    { ORIGO_COUNTER_PRESENTATION_CACHE_ENTRIES, "origo_presentation_cache_entries", "gauge",
      "Presentations held, summed over live processes." },
    { ORIGO_COUNTER_MAPPED_FILE_FAULTS, "origo_mapped_file_faults_total", "counter",
      "Reads of mapped media that faulted because the file shrank (answered as a changed file)." },
    { ORIGO_COUNTER_INDEX_PARSES, "origo_index_parses_total", "counter",
      "Media indexes read and parsed from their source file or object." },
    { ORIGO_COUNTER_INDEX_STORE_HITS, "origo_index_store_hits_total", "counter",
      "Media indexes taken from the host's shared index store (OrigoIndexCacheDir) instead of parsed." },
    { ORIGO_COUNTER_INDEX_STORE_WRITES, "origo_index_store_writes_total", "counter",
      "Media indexes written to the shared index store." },
    { ORIGO_COUNTER_INDEX_STORE_REJECTS, "origo_index_store_rejects_total", "counter",
      "Index store files that failed a check (damaged, foreign, other version) and were rebuilt." },
    { ORIGO_COUNTER_INDEX_STORE_EVICTIONS, "origo_index_store_evictions_total", "counter",
      "Index store files removed to stay within OrigoIndexCacheDirSize." },
};

_Static_assert(sizeof(engine_metrics) / sizeof(engine_metrics[0]) == ORIGO_ENGINE_COUNTERS,
               "every engine counter has a row in engine_metrics");

static void print_engine_counters(request_rec *r)
{
    size_t i;

    for (i = 0; i < sizeof(engine_metrics) / sizeof(engine_metrics[0]); i++) {
        uint64_t value = load(&block->engine[engine_metrics[i].counter]);
        print_metric(r, engine_metrics[i].name, engine_metrics[i].type, engine_metrics[i].help);
        /* Gauges are sums of additions and subtractions: shown signed. */
        if (strcmp(engine_metrics[i].type, "gauge") == 0) {
            ap_rprintf(r, "%s %" APR_INT64_T_FMT "\n", engine_metrics[i].name, (apr_int64_t)value);
        } else {
            ap_rprintf(r, "%s %" APR_UINT64_T_FMT "\n", engine_metrics[i].name, value);
        }
    }
}

static void print_requests(request_rec *r)
{
    int f, status;

    print_metric(r, "origo_requests_total", "counter",
                 "Requests the module took, by output format and the status the client got.");
    for (f = 0; f < ORIGO_OUTPUT_FORMATS; f++) {
        for (status = 0; status < STATUS_CODES; status++) {
            uint64_t n = load(&block->requests[f][status]);
            if (n != 0) {
                ap_rprintf(r, "origo_requests_total{format=\"%s\",status=\"%d\"} %" APR_UINT64_T_FMT "\n",
                           format_names[f], status, n);
            }
        }
    }
    print_metric(r, "origo_engine_seconds", "histogram",
                 "Time the engine took per request, including its upstream reads, by output format.");
    for (f = 0; f < ORIGO_OUTPUT_FORMATS; f++) {
        print_histogram(r, "origo_engine_seconds", apr_psprintf(r->pool, "format=\"%s\"", format_names[f]),
                        &block->engine_time[f]);
    }
}

static void print_upstream(request_rec *r)
{
    int i;

    print_metric(r, "origo_upstream_requests_total", "counter", "Reads from remote storage.");
    ap_rprintf(r, "origo_upstream_requests_total %" APR_UINT64_T_FMT "\n", load(&block->upstream_requests));
    print_metric(r, "origo_upstream_responses_total", "counter", "Answers from remote storage, by status class.");
    for (i = 0; i < 6; i++) {
        uint64_t n = load(&block->upstream_responses[i]);
        if (n != 0) {
            ap_rprintf(r, "origo_upstream_responses_total{code=\"%s\"} %" APR_UINT64_T_FMT "\n",
                       i == 0 ? "other" : apr_psprintf(r->pool, "%dxx", i), n);
        }
    }
    print_metric(r, "origo_upstream_errors_total", "counter",
                 "Reads from remote storage that got no answer: timed out, not allowed, or failed.");
    for (i = 0; i < UPSTREAM_ERROR_KINDS; i++) {
        ap_rprintf(r, "origo_upstream_errors_total{reason=\"%s\"} %" APR_UINT64_T_FMT "\n",
                   upstream_error_names[i], load(&block->upstream_errors[i]));
    }
    print_metric(r, "origo_upstream_received_bytes_total", "counter", "Body bytes of the successful (2xx) answers from remote storage.");
    ap_rprintf(r, "origo_upstream_received_bytes_total %" APR_UINT64_T_FMT "\n", load(&block->upstream_bytes));
    print_metric(r, "origo_upstream_seconds", "histogram", "Time each read from remote storage took.");
    print_histogram(r, "origo_upstream_seconds", "", &block->upstream_time);
}

static int status_handler(request_rec *r)
{
    int rc;

    if (r->handler == NULL || strcmp(r->handler, "origo-status") != 0) {
        return DECLINED;
    }
    rc = origo_bridge_get_only(r);
    if (rc != OK) {
        return rc;
    }
    if (block == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, ORIGO_LOGNO(10012)
                      "status counters are off (OrigoMetrics Off, or no shared memory): %s has nothing to show",
                      r->uri);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only) {
        return OK;
    }
    print_metric(r, "origo_info", "gauge", "The engine serving (value 1).");
    ap_rprintf(r, "origo_info{engine=\"%s\"} 1\n", origo_engine_version());
    print_metric(r, "origo_counters_start_time_seconds", "gauge",
                 "When counting started (Unix time; kept across graceful restarts).");
    ap_rprintf(r, "origo_counters_start_time_seconds %" APR_TIME_T_FMT "\n", apr_time_sec(block->created));
    print_requests(r);
    print_upstream(r);
    print_engine_counters(r);
    return OK;
}

void origo_metrics_register(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(count_request, NULL, NULL, APR_HOOK_MIDDLE);
}
