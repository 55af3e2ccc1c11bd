/*
 * Test of mod_glue/origo_curl.c (built and run by scripts/test-glue.sh).
 *
 *   origo_curl_test <curl_test_server.py>
 *
 * Starts the misbehaving test upstream (python3, 127.0.0.1, free ports; it stops when this program's
 * end closes its stdin), then fetches from it: bodies, ranges, a 200 to a range cut and abandoned,
 * caps, header floods, 1xx answers, drips and deadlines, a client going away, refused connections,
 * connection reuse and dead kept-alive connections, TLS with a test CA, a proxy, and many threads.
 * Prints "N passed, N failed" and exits non-zero on a failure.
 */
#define _POSIX_C_SOURCE 200809L

#include "origo_curl.h"
#include "origo_url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OBJ_LAST_MODIFIED 1445412480  /* Wed, 21 Oct 2015 07:28:00 GMT */
#define SECONDS 1000000

static int passed, failed;
static char base[64], tls_base[64], tls_localhost[64], ca_file[512];
static int server_port;

static void check(int ok, const char *name, const origo_fetch_result *r)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL %s", name);
    if (r != NULL) {
        printf(" (status %d, length %llu, offset %llu, %s, Content-Range %s, Content-Length %s, error: %s)",
               r->status, (unsigned long long)r->length, (unsigned long long)r->data_offset,
               r->ended ? "ended" : "not ended", r->content_range != NULL ? r->content_range : "-",
               r->content_length != NULL ? r->content_length : "-", r->error != NULL ? r->error : "-");
    }
    printf("\n");
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void release(origo_fetch_result *r)
{
    free(r->data);
    free(r->content_range);
    free(r->content_length);
    free(r->etag);
    free(r->error);
    memset(r, 0, sizeof(*r));
}

/* Whether data holds object bytes (i % 251) from `offset`. */
static int is_object(const origo_fetch_result *r, uint64_t offset)
{
    uint64_t i;

    for (i = 0; i < r->length; i++) {
        if (r->data[i] != (offset + i) % 251) {
            return 0;
        }
    }
    return 1;
}

static int body_has(const origo_fetch_result *r, const char *needle)
{
    size_t n = strlen(needle), i;

    for (i = 0; r->data != NULL && i + n <= r->length; i++) {
        if (memcmp(r->data + i, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* CRLFs in the body. */
static int count_lines(const origo_fetch_result *r)
{
    uint64_t i;
    int n = 0;

    for (i = 0; i + 1 < r->length; i++) {
        n += r->data[i] == '\r' && r->data[i + 1] == '\n';
    }
    return n;
}

/* Whether a raw header the fetch passed on is `value` (NULL: absent). */
static int header_is(const char *header, const char *value)
{
    return value == NULL ? header == NULL : header != NULL && strcmp(header, value) == 0;
}

static int error_has(const origo_fetch_result *r, const char *needle)
{
    return r->error != NULL && strstr(r->error, needle) != NULL;
}

/* A request with the defaults of these tests (10 s deadline). */
static origo_curl_request request(const char *url, uint64_t offset, uint64_t length)
{
    origo_curl_request q;

    memset(&q, 0, sizeof(q));
    q.url = url;
    q.offset = offset;
    q.length = length;
    q.timeout_usec = 10 * (int64_t)SECONDS;
    return q;
}

static int get(const char *path, uint64_t offset, uint64_t length, origo_fetch_result *r)
{
    char url[256];
    origo_curl_request q;

    snprintf(url, sizeof(url), "%s%s", base, path);
    q = request(url, offset, length);
    return origo_curl_fetch(&q, r);
}

/* The value of `name` in the server's /stats, or -1. */
static long long server_stat(const char *name)
{
    origo_fetch_result r;
    long long value = -1;
    char *text, *line;

    if (get("/stats", 0, 0, &r) != 0 || r.status != 200 || (text = strndup((char *)r.data, r.length)) == NULL) {
        release(&r);
        return -1;
    }
    for (line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        size_t n = strlen(name);
        if (strncmp(line, name, n) == 0 && line[n] == '=') {
            value = atoll(line + n + 1);
        }
    }
    free(text);
    release(&r);
    return value;
}

/* ------------------------------------------------------------------ pure helpers */

static void test_helpers(void)
{
    char buf[64];

    check(strcmp(origo_range_value(10, 10, buf, sizeof(buf)), "bytes=10-19") == 0, "range value", NULL);
    check(strcmp(origo_range_value(10, 0, buf, sizeof(buf)), "bytes=10-") == 0, "range value: open", NULL);
    check(strcmp(origo_range_value(0, 0, buf, sizeof(buf)), "") == 0, "range value: none", NULL);
}

/* ------------------------------------------------------------------ answers */

static void test_reuse(void)
{
    origo_fetch_result r;
    uint64_t before = origo_curl_connections_opened();
    int i, ok = 1;

    for (i = 0; i < 20; i++) {
        ok = ok && get("/obj?size=100000", (uint64_t)i * 1000, 1000, &r) == 0 && r.status == 206
             && r.length == 1000 && is_object(&r, (uint64_t)i * 1000);
        release(&r);
    }
    check(ok, "reuse: 20 ranged reads", NULL);
    check(origo_curl_connections_opened() - before == 1, "reuse: one connection for all", NULL);
    check(server_stat("connections") == 1, "reuse: the server accepted one", NULL);
}

static void test_plain(void)
{
    origo_fetch_result r;
    int rc = get("/obj?size=1000", 0, 0, &r);

    check(rc == 0 && r.status == 200 && r.length == 1000 && is_object(&r, 0) && r.data_offset == 0 && r.ended
          && header_is(r.content_length, "1000") && header_is(r.content_range, NULL), "plain: 200 whole", &r);
    check(r.etag != NULL && strcmp(r.etag, "\"obj-1000\"") == 0, "plain: etag", &r);
    check(r.last_modified == OBJ_LAST_MODIFIED, "plain: last-modified", &r);
    check(r.error == NULL, "plain: no error", &r);
    release(&r);

    rc = get("/obj?size=0", 0, 0, &r);
    check(rc == 0 && r.status == 200 && r.length == 0 && r.data == NULL && r.ended
          && header_is(r.content_length, "0"), "plain: empty", &r);
    release(&r);

    rc = get("/redirect", 0, 0, &r);
    check(rc == 0 && r.status == 302 && r.length == 0, "plain: 302 returned, not followed", &r);
    release(&r);

    rc = get("/status?code=404&size=1000000", 0, 100, &r);
    check(rc == 0 && r.status == 404 && r.length == ORIGO_CURL_MAX_ERROR_BODY, "plain: 404 body cut to 64 KiB", &r);
    release(&r);
}

static void test_ranges(void)
{
    origo_fetch_result r;
    int rc = get("/obj?size=100000", 1000, 500, &r);

    check(rc == 0 && r.status == 206 && r.length == 500 && r.data_offset == 0 && r.ended
          && header_is(r.content_range, "bytes 1000-1499/100000") && header_is(r.content_length, "500")
          && is_object(&r, 1000), "range: 206", &r);
    check(r.etag != NULL && r.last_modified == OBJ_LAST_MODIFIED, "range: validators", &r);
    release(&r);

    rc = get("/obj?size=100000", 99000, 0, &r);
    check(rc == 0 && r.status == 206 && r.length == 1000 && header_is(r.content_range, "bytes 99000-99999/100000")
          && is_object(&r, 99000), "range: open-ended", &r);
    release(&r);

    rc = get("/obj?size=100000", 99900, 500, &r);
    check(rc == 0 && r.status == 206 && r.length == 100 && header_is(r.content_range, "bytes 99900-99999/100000")
          && is_object(&r, 99900), "range: past the end", &r);
    release(&r);

    /* Whether a Content-Range fits the read is the engine's question: the module passes it on. */
    rc = get("/bad-range", 0, 10, &r);
    check(rc == 0 && r.status == 206 && r.length == 5 && header_is(r.content_range, "bytes 5-9/100")
          && is_object(&r, 5), "range: wrong Content-Range passed on as received", &r);
    release(&r);

    rc = get("/twice-range", 0, 10, &r);
    check(rc == 0 && r.status == 206 && header_is(r.content_range, "bytes 0-9/100,bytes 0-9/100"),
          "range: a repeated Content-Range joined", &r);
    release(&r);

    rc = get("/extra-range?size=100000", 0, 100, &r);
    check(rc == 502, "range: more bytes than asked", &r);
    release(&r);

    rc = get("/short", 0, 0, &r);
    check(rc == 502 && r.status == 0, "range: short body", &r);
    release(&r);
}

static void test_ignored_range(void)
{
    origo_fetch_result r;
    double start = now();
    int rc = get("/ignore-range", 100000, 50000, &r);
    double took = now() - start;

    check(rc == 0 && r.status == 200 && r.length == 50000 && r.data_offset == 100000 && !r.ended
          && header_is(r.content_length, "10737418240") && is_object(&r, 100000), "200 to a range: sliced", &r);
    check(took < 3, "200 to a range: stops at the range end", NULL);
    release(&r);
    usleep(500000);
    check(server_stat("ignore_range_closed") == 1, "200 to a range: connection closed", NULL);
    check(server_stat("ignore_range_sent") < (4 << 20), "200 to a range: little sent", NULL);

    rc = get("/ignore-range?size=5000", 1000, 0, &r);
    check(rc == 0 && r.status == 200 && r.length == 4000 && r.data_offset == 1000 && r.ended
          && header_is(r.content_length, "5000") && is_object(&r, 1000), "200 to a range: open-ended", &r);
    release(&r);

    rc = get("/ignore-range?size=5000", 4000, 5000, &r);
    check(rc == 0 && r.status == 200 && r.length == 1000 && r.data_offset == 4000 && r.ended
          && header_is(r.content_length, "5000") && is_object(&r, 4000), "200 to a range: past the end", &r);
    release(&r);

    /* The whole object came before the range: nothing kept, the cut at the object's end. */
    rc = get("/ignore-range?size=5000", 6000, 100, &r);
    check(rc == 0 && r.status == 200 && r.length == 0 && r.data_offset == 5000 && r.ended,
          "200 to a range: beyond the end", &r);
    release(&r);
}

static void test_caps(void)
{
    char url[256];
    origo_curl_request q;
    origo_fetch_result r;
    double start;
    int rc;

    snprintf(url, sizeof(url), "%s/huge-length", base);
    q = request(url, 0, 0);
    q.max_body = 1 << 20;
    start = now();
    rc = origo_curl_fetch(&q, &r);
    check(rc == 502 && error_has(&r, "too large") && now() - start < 2, "cap: Content-Length over max_body", &r);
    release(&r);

    snprintf(url, sizeof(url), "%s/endless", base);
    q.url = url;
    start = now();
    rc = origo_curl_fetch(&q, &r);
    check(rc == 502 && error_has(&r, "too large") && now() - start < 3, "cap: endless body", &r);
    release(&r);
    usleep(300000);
    check(server_stat("endless_closed") == 1, "cap: endless body's connection closed", NULL);

    snprintf(url, sizeof(url), "%s/status?code=404&size=2000000", base);
    rc = origo_curl_fetch(&q, &r);
    check(rc == 0 && r.status == 404, "cap: 404 announcing more than max_body", &r);
    release(&r);

    rc = get("/flood?lines=2000&len=100", 0, 0, &r);
    check(rc == 502 && error_has(&r, "header block too large"), "header flood: bytes", &r);
    release(&r);
    rc = get("/flood?lines=150&len=10", 0, 0, &r);
    check(rc == 502 && error_has(&r, "header block too large"), "header flood: lines", &r);
    release(&r);
    rc = get("/flood?lines=50&len=10", 0, 0, &r);
    check(rc == 0 && r.status == 200 && r.length == 2, "header flood: 50 lines are fine", &r);
    release(&r);

    rc = get("/interim?count=1", 0, 0, &r);
    check(rc == 0 && r.status == 200 && r.length == 2, "interim: one 103", &r);
    release(&r);
    rc = get("/interim?count=5", 0, 0, &r);
    check(rc == 502 && error_has(&r, "interim"), "interim: five", &r);
    release(&r);
}

/* ------------------------------------------------------------------ time */

static int gone_after(void *ctx)
{
    return now() > *(double *)ctx;
}

static void test_time(void)
{
    char url[256];
    origo_curl_request q;
    origo_fetch_result r;
    double start, took, when;
    int rc;

    snprintf(url, sizeof(url), "%s/drip", base);
    q = request(url, 0, 0);
    q.timeout_usec = 2 * SECONDS;
    start = now();
    rc = origo_curl_fetch(&q, &r);
    took = now() - start;
    check(rc == 504 && took > 1.8 && took < 3.5, "deadline: dripping body", &r);
    release(&r);

    snprintf(url, sizeof(url), "%s/drip-head", base);
    q.timeout_usec = 1 * SECONDS;
    start = now();
    rc = origo_curl_fetch(&q, &r);
    took = now() - start;
    check(rc == 504 && took > 0.8 && took < 2.5, "deadline: dripping status line", &r);
    release(&r);

    q.timeout_usec = 0;
    rc = origo_curl_fetch(&q, &r);
    check(rc == 504, "deadline: already passed", &r);
    release(&r);

    snprintf(url, sizeof(url), "%s/drip", base);
    q.timeout_usec = 10 * SECONDS;
    when = now() + 0.3;
    q.client_gone = gone_after;
    q.client_ctx = &when;
    start = now();
    rc = origo_curl_fetch(&q, &r);
    took = now() - start;
    check(rc == 502 && error_has(&r, "client went away") && took < 2, "client gone", &r);
    release(&r);
}

/* ------------------------------------------------------------------ connections */

static int unused_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&a, sizeof(a));
    getsockname(s, (struct sockaddr *)&a, &len);
    port = ntohs(a.sin_port);
    close(s);
    return port;
}

static void test_connections(void)
{
    char url[256];
    origo_curl_request q;
    origo_fetch_result r;
    uint64_t before;
    int rc, i, clean = 1;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x.mp4?X-Amz-Signature=SECRET", unused_port());
    q = request(url, 0, 10);
    rc = origo_curl_fetch(&q, &r);
    check(rc == 502 && r.error != NULL && strstr(r.error, "SECRET") == NULL && strstr(r.error, "/x.mp4") != NULL,
          "refused: 502 without the query", &r);
    for (i = 0; r.error != NULL && r.error[i] != '\0'; i++) {
        clean = clean && (unsigned char)r.error[i] >= 0x20;
    }
    check(clean, "refused: one printable line", &r);
    release(&r);

    q.url = "http://no-such-host.invalid/x";
    rc = origo_curl_fetch(&q, &r);
    check(rc == 502, "DNS failure: 502", &r);
    release(&r);

    q.url = "ftp://127.0.0.1/x";
    rc = origo_curl_fetch(&q, &r);
    check(rc == 502, "ftp refused", &r);
    release(&r);

    /* The server closes the kept-alive connection while it is idle... */
    rc = get("/close-after", 0, 0, &r);
    release(&r);
    usleep(300000);
    before = origo_curl_connections_opened();
    rc = get("/obj?size=100", 0, 0, &r);
    check(rc == 0 && r.status == 200 && origo_curl_connections_opened() - before == 1,
          "dead connection: closed while idle", &r);
    release(&r);

    /* ...or as the next request arrives: libcurl sends again on a new one. */
    rc = get("/drop-next", 0, 0, &r);
    release(&r);
    before = origo_curl_connections_opened();
    rc = get("/obj?size=100", 0, 0, &r);
    check(rc == 0 && r.status == 200 && origo_curl_connections_opened() - before == 1,
          "dead connection: dropped on the next request, retried", &r);
    release(&r);
}

static void test_request_headers(void)
{
    static const char *const headers[] = { "User-Agent: Origo/test", "CDN-Loop: origo", NULL };
    char url[256], host[64];
    origo_curl_request q;
    origo_fetch_result r;
    int rc;

    snprintf(url, sizeof(url), "%s/echo", base);
    snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n", server_port);
    q = request(url, 0, 4096);
    q.headers = headers;
    rc = origo_curl_fetch(&q, &r);
    check(rc == 0 && r.status == 200 && body_has(&r, "GET /echo HTTP/1.1\r\n"), "request: sent", &r);
    check(body_has(&r, host) && body_has(&r, "\r\nUser-Agent: Origo/test\r\n")
          && body_has(&r, "\r\nCDN-Loop: origo\r\n") && body_has(&r, "\r\nRange: bytes=0-4095\r\n"),
          "request: the headers given, Host and Range", &r);
    check(count_lines(&r) == 6 && !body_has(&r, "Accept"), "request: nothing else", &r);
    if (count_lines(&r) != 6 && r.data != NULL) {
        printf("  request was: %.*s\n", (int)r.length, (char *)r.data);
    }
    release(&r);

    /* The path goes out as given (dot segments too: it may have been signed). */
    rc = get("/a/../echo", 0, 0, &r);
    check(rc == 0 && r.status == 404, "request: path as is", &r);
    release(&r);

    /* Through a proxy: absolute form. */
    q = request("http://origo.invalid/echo", 0, 0);
    q.proxy = base;
    rc = origo_curl_fetch(&q, &r);
    check(rc == 0 && r.status == 200 && body_has(&r, "GET http://origo.invalid/echo HTTP/1.1\r\n"),
          "proxy: absolute form", &r);
    release(&r);
}

static void test_tls(void)
{
    char url[256];
    origo_curl_request q;
    origo_fetch_result r;
    int rc;

    if (tls_base[0] == '\0') {
        printf("skipped: TLS (no openssl command)\n");
        return;
    }
    snprintf(url, sizeof(url), "%s/obj?size=100", tls_base);
    q = request(url, 0, 0);
    rc = origo_curl_fetch(&q, &r);
    check(rc == 502 && error_has(&r, "certificate"), "tls: unknown CA refused", &r);
    release(&r);

    q.ca_file = ca_file;
    rc = origo_curl_fetch(&q, &r);
    check(rc == 0 && r.status == 200 && r.length == 100 && is_object(&r, 0), "tls: with the CA file", &r);
    release(&r);

    snprintf(url, sizeof(url), "%s/obj?size=100", tls_localhost);
    rc = origo_curl_fetch(&q, &r);
    check(rc == 502 && r.error != NULL, "tls: wrong host name refused", &r);
    release(&r);
}

/* ------------------------------------------------------------------ threads */

#define THREADS 8
#define THREAD_FETCHES 25

/* Odd threads read over https when the server has TLS (the TLS session cache is shared). */
static void *fetch_many(void *arg)
{
    long id = (long)arg, bad = 0;
    int i, tls = (id & 1) && tls_base[0] != '\0';
    char url[256];

    snprintf(url, sizeof(url), "%s/obj?size=200000", tls ? tls_base : base);
    for (i = 0; i < THREAD_FETCHES; i++) {
        origo_fetch_result r;
        uint64_t offset = (uint64_t)(id * 7919 + i * 104729) % 190000;
        origo_curl_request q = request(url, offset, 5000);
        q.ca_file = tls ? ca_file : NULL;
        if (origo_curl_fetch(&q, &r) != 0 || r.status != 206 || r.length != 5000 || !is_object(&r, offset)) {
            bad++;
        }
        release(&r);
    }
    return (void *)bad;
}

static void test_threads(void)
{
    pthread_t threads[THREADS];
    uint64_t before = origo_curl_connections_opened();
    long i, bad = 0;

    for (i = 0; i < THREADS; i++) {
        pthread_create(&threads[i], NULL, fetch_many, (void *)i);
    }
    for (i = 0; i < THREADS; i++) {
        void *result;
        pthread_join(threads[i], &result);
        bad += (long)result;
    }
    check(bad == 0, "threads: all reads right", NULL);
    printf("threads: %d x %d reads opened %llu connections\n", THREADS, THREAD_FETCHES,
           (unsigned long long)(origo_curl_connections_opened() - before));
    /* A handle may go to another thread and another scheme: a few more connections than threads. */
    check(origo_curl_connections_opened() - before <= 2 * THREADS, "threads: connections reused", NULL);
}

/* ------------------------------------------------------------------ main */

static pid_t server_pid;
static int server_stdin = -1;

/* Starts the server; reads its "port=... tls_port=... ca=..." line. */
static int start_server(const char *script)
{
    int to[2], from[2], tls_port = 0;
    char line[1024];
    FILE *f;

    if (pipe(to) != 0 || pipe(from) != 0) {
        return -1;
    }
    server_pid = fork();
    if (server_pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        execlp("python3", "python3", script, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    server_stdin = to[1];
    f = fdopen(from[0], "r");
    if (server_pid < 0 || f == NULL || fgets(line, sizeof(line), f) == NULL
        || sscanf(line, "port=%d tls_port=%d ca=%511s", &server_port, &tls_port, ca_file) != 3) {
        return -1;
    }
    fclose(f);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", server_port);
    if (tls_port > 0) {
        snprintf(tls_base, sizeof(tls_base), "https://127.0.0.1:%d", tls_port);
        snprintf(tls_localhost, sizeof(tls_localhost), "https://localhost:%d", tls_port);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s Tests/glue/curl_test_server.py\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);                       /* as httpd does */
    setenv("http_proxy", "http://127.0.0.1:9", 1);  /* must be ignored */
    setenv("https_proxy", "http://127.0.0.1:9", 1);
    if (start_server(argv[1]) != 0) {
        fprintf(stderr, "cannot start %s\n", argv[1]);
        return 2;
    }
    if (origo_curl_child_init() != 0) {
        fprintf(stderr, "origo_curl_child_init failed\n");
        return 2;
    }
    test_helpers();
    test_reuse();             /* first: the pool holds no connection yet */
    test_plain();
    test_ranges();
    test_ignored_range();
    test_caps();
    test_time();
    test_connections();
    test_request_headers();
    test_tls();
    test_threads();
    origo_curl_child_exit();

    close(server_stdin);
    waitpid(server_pid, NULL, 0);
    printf("%d passed, %d failed\n", passed, failed);
    return failed > 0 ? 1 : 0;
}
