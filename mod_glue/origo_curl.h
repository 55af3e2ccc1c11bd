/*
 * The libcurl upstream client (UspEnableSubreq off): one bounded HTTP/1.1 GET per call.
 *
 * No httpd or APR types: libc, pthreads, libcurl and origo_url.c only, so Tests/glue/origo_curl_test.c runs it
 * against a misbehaving local server. Thread-safe: any number of threads may fetch at once.
 *
 * Connections: each Apache child keeps a LIFO pool of easy handles, and an easy handle keeps its
 * idle connections between transfers, so a run of reads from one upstream goes over one kept-alive
 * connection (libcurl retries a GET once on a reused connection the server had closed). DNS answers
 * and TLS sessions are shared by all handles of the child through a share handle; connections are
 * not, because libcurl's shared connection cache is not thread-safe (its KNOWN_BUGS 11.11, libcurl
 * 7.88).
 */
#ifndef ORIGO_CURL_H
#define ORIGO_CURL_H

#include <stddef.h>
#include <stdint.h>

#include "origo_engine.h"   /* origo_fetch_result; plain C, no httpd */

/* Bounds of one fetch. */
#define ORIGO_CURL_MAX_HEADER_BYTES (64 * 1024)   /* all response header lines, 1xx ones included */
#define ORIGO_CURL_MAX_HEADER_LINES 100           /* header lines, 1xx ones included */
#define ORIGO_CURL_MAX_INTERIM 3                  /* 1xx answers before the final one */
#define ORIGO_CURL_MAX_ERROR_BODY (64 * 1024)     /* kept of a body that is not 200/206 */
#define ORIGO_CURL_DEFAULT_MAX_BODY (16 * 1024 * 1024)
#define ORIGO_CURL_POOL_SIZE 32                   /* idle easy handles kept per process */

/*
 * Once per Apache child (child_init), after the fork and before any thread fetches: initialises
 * libcurl (curl_global_init, once per process), creates the share handle. Returns 0, or -1 when
 * libcurl cannot be initialised. Never call it in the parent before forking.
 */
int origo_curl_child_init(void);

/* Releases the pooled handles and the share handle (child_exit); no fetch may be running. */
void origo_curl_child_exit(void);

typedef struct origo_curl_request {
    /* http:// or https:// URL, already percent-encoded; sent as is (no dot-segment removal, so
       what was signed is what goes out). */
    const char *url;
    /* The bytes wanted: Range "bytes=offset-(offset+length-1)"; length 0: "bytes=offset-";
       both 0: the whole object, no Range. */
    uint64_t offset, length;
    /* Further request lines "Name: value" (User-Agent, CDN-Loop, S3 signing...), NULL-terminated,
       or NULL. Nothing else goes out but Host and Range (libcurl sends no User-Agent, Accept or
       Accept-Encoding of its own here). Do not pass Range: it is added from offset/length, as
       origo_range_value (origo_url.h) writes it (sign that string). */
    const char *const *headers;
    /* Most body bytes kept when length is 0 (whole object or open-ended range): more is a 502
       "too large". 0 = ORIGO_CURL_DEFAULT_MAX_BODY. */
    uint64_t max_body;
    /* Time allowed for this whole fetch (DNS, connect, TLS, headers, body), in microseconds from
       the call; <= 0: the deadline has passed, 504 without a request. */
    int64_t timeout_usec;
    const char *ca_file;          /* CA bundle (PEM); NULL: the system's. Verification is always on. */
    const char *proxy;            /* HTTP proxy URL; NULL: none (http_proxy etc. are ignored) */
    /* Optional: asked at most every 200 ms while the fetch runs (at least about once a second);
       nonzero ends it (502, "the client went away"). */
    int (*client_gone)(void *ctx);
    void *client_ctx;
} origo_curl_request;

/*
 * One GET. `out` is overwritten (zeroed first). Returns 0 when an HTTP answer arrived, whatever
 * its status (out->status set; the body of a 200/206 as the engine wants it, at most
 * ORIGO_CURL_MAX_ERROR_BODY bytes of any other), else the status to answer the client with and
 * out->error (one line, no query string): 502 (DNS, refused, reset, TLS or certificate failure,
 * malformed, too large, short, header block too large, client gone) or 504 (timeout).
 *
 * A 200 to a ranged read is cut to the wanted bytes and the transfer (and its connection) ended as
 * soon as they have arrived (data_offset = offset; ended = 0 when it stopped early). A 206 may
 * carry no more bytes than asked for. The answer is not checked against its headers: the raw
 * Content-Range and Content-Length go to the engine, which does that.
 */
int origo_curl_fetch(const origo_curl_request *req, origo_fetch_result *out);

/* Connections opened by this process's fetches so far (debug logs, tests). */
uint64_t origo_curl_connections_opened(void);

#endif
