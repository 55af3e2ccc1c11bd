/*
 * Unit test of mod_glue/origo_s3.c (built by scripts/test-glue.sh).
 *
 *   origo_s3_test            runs AWS's documented SigV4 examples for S3 (access key
 *                            AKIAIOSFODNN7EXAMPLE, 2013-05-24) and edge cases; prints
 *                            "N passed, N failed" and exits non-zero on a failure.
 *   origo_s3_test --sign     reads "key=value" lines on stdin (access_key, secret_key, region,
 *                            token, method, url, host, mode=headers|query, expires, when,
 *                            payload_hash, and any number of "header=Name: value") and prints
 *                            amz_date, signature, authorization, url and the canonical request
 *                            (with "\n" escaped) as "key=value" lines: the botocore comparison in
 *                            Tests/integration/test_s3.py drives this.
 */
#include "origo_s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY "AKIAIOSFODNN7EXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define WHEN ((time_t)1369353600) /* 2013-05-24T00:00:00Z */

static int passed, failed;

static void check(int ok, const char *name, const char *got, const char *want)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL %s\n  got:  %s\n  want: %s\n", name, got != NULL ? got : "(null)", want != NULL ? want : "");
}

static void check_str(const char *name, const char *got, const char *want)
{
    check(got != NULL && strcmp(got, want) == 0, name, got, want);
}

static origo_s3_credentials example_credentials(void)
{
    origo_s3_credentials c = { KEY, SECRET, "us-east-1", NULL, NULL };
    return c;
}

/* AWS: "Example: GET Object" (header signing, Range signed, empty-body hash). */
static void test_get_object(void)
{
    origo_s3_credentials c = example_credentials();
    origo_s3_header range = { "Range", "bytes=0-9" };
    origo_s3_request r = { "GET", "https://examplebucket.s3.amazonaws.com/test.txt", NULL, &range, 1,
                           ORIGO_S3_EMPTY_SHA256, WHEN, ORIGO_S3_HEADERS, 0 };
    origo_s3_signed s;
    int rc = origo_s3_sign(&c, &r, &s);

    check(rc == ORIGO_S3_OK, "get object: signs", NULL, NULL);
    check_str("get object: canonical request", s.canonical_request,
              "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
              "x-amz-content-sha256:" ORIGO_S3_EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
              "host;range;x-amz-content-sha256;x-amz-date\n" ORIGO_S3_EMPTY_SHA256);
    check_str("get object: string to sign", s.string_to_sign,
              "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
              "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    check_str("get object: signature", s.signature,
              "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    check_str("get object: authorization", s.authorization,
              "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
              "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
              "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    check_str("get object: amz date", s.amz_date, "20130524T000000Z");
    origo_s3_signed_free(&s);
}

/* AWS: "Example: GET Bucket Lifecycle" and "Example: Get Bucket (List Objects)". */
static void test_bucket_examples(void)
{
    origo_s3_credentials c = example_credentials();
    origo_s3_request r = { "GET", "https://examplebucket.s3.amazonaws.com/?lifecycle", NULL, NULL, 0,
                           ORIGO_S3_EMPTY_SHA256, WHEN, ORIGO_S3_HEADERS, 0 };
    origo_s3_signed s;

    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_OK, "lifecycle: signs", NULL, NULL);
    check_str("lifecycle: signature", s.signature,
              "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    origo_s3_signed_free(&s);

    r.url = "https://examplebucket.s3.amazonaws.com/?prefix=J&max-keys=2"; /* unsorted on purpose */
    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_OK, "list objects: signs", NULL, NULL);
    check_str("list objects: signature", s.signature,
              "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    origo_s3_signed_free(&s);
}

/* AWS: "Authenticating Requests: Using Query Parameters", the GET Object example. */
static void test_presigned(void)
{
    origo_s3_credentials c = example_credentials();
    origo_s3_request r = { "GET", "https://examplebucket.s3.amazonaws.com/test.txt", NULL, NULL, 0,
                           NULL, WHEN, ORIGO_S3_QUERY, 86400 };
    origo_s3_signed s;

    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_OK, "presigned: signs", NULL, NULL);
    check_str("presigned: string to sign", s.string_to_sign,
              "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
              "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04");
    check_str("presigned: url", s.url,
              "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
              "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
              "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
              "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    check(s.authorization == NULL, "presigned: no Authorization", s.authorization, "(null)");
    origo_s3_signed_free(&s);
}

/* Canonical forms: segments re-encoded once, %2F kept, host port rules, token placement. */
static void test_canonical_forms(void)
{
    origo_s3_credentials c = example_credentials();
    origo_s3_request r = { "GET", "http://127.0.0.1:9000/bucket/a%20b/c:d/%2Fx+y~%7E?b=2&a=%3D&a=1", NULL,
                           NULL, 0, NULL, WHEN, ORIGO_S3_HEADERS, 0 };
    origo_s3_signed s;

    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_OK, "canonical: signs", NULL, NULL);
    check_str("canonical: request", s.canonical_request,
              "GET\n/bucket/a%20b/c%3Ad/%2Fx%2By~~\na=%3D&a=1&b=2\nhost:127.0.0.1:9000\n"
              "x-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20130524T000000Z\n\n"
              "host;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD");
    check_str("canonical: wire url is the canonical form", s.url,
              "http://127.0.0.1:9000/bucket/a%20b/c%3Ad/%2Fx%2By~~?a=%3D&a=1&b=2");
    origo_s3_signed_free(&s);

    r.url = "https://Example.COM:443";
    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_OK, "default port: signs", NULL, NULL);
    check(s.canonical_request != NULL && strstr(s.canonical_request, "GET\n/\n\nhost:example.com\n") != NULL,
          "default port: host without :443, path /", s.canonical_request, "host:example.com");
    origo_s3_signed_free(&s);

    c.security_token = "token/with+chars=";
    r.url = "http://h:81/k?x=1";
    r.mode = ORIGO_S3_QUERY;
    r.expires = 300;
    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_OK, "query token: signs", NULL, NULL);
    check(s.url != NULL && strstr(s.url, "http://h:81/k?X-Amz-Algorithm=") == s.url
          && strstr(s.url, "&X-Amz-Security-Token=token%2Fwith%2Bchars%3D&X-Amz-SignedHeaders=host&x=1"
                           "&X-Amz-Signature=") != NULL,
          "query token: url", s.url, "...?X-Amz-Algorithm=...&X-Amz-Security-Token=token%2Fwith%2Bchars%3D"
          "&X-Amz-SignedHeaders=host&x=1&X-Amz-Signature=...");
    check(s.canonical_request != NULL
          && strstr(s.canonical_request, "&X-Amz-SignedHeaders=host&x=1\nhost:h:81\n\nhost\nUNSIGNED-PAYLOAD") != NULL,
          "query token: canonical query sorted, host only", s.canonical_request, "");
    origo_s3_signed_free(&s);

    /* Names sort before values: "a" < "a-b" although "a=" > "a-b=" byte-wise. */
    c.security_token = NULL;
    r.url = "http://h/k?a-b=1&a=2";
    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_OK, "query order: signs", NULL, NULL);
    check(s.canonical_request != NULL && strstr(s.canonical_request, "\na=2&a-b=1&X-Amz-Algorithm=") == NULL
          && strstr(s.canonical_request, "\nX-Amz-Algorithm=") != NULL
          && strstr(s.canonical_request, "&X-Amz-SignedHeaders=host&a=2&a-b=1\n") != NULL,
          "query order: by name then value", s.canonical_request, "...&X-Amz-SignedHeaders=host&a=2&a-b=1");
    c.security_token = "token/with+chars=";
    r.url = "http://h:81/k?x=1";
    origo_s3_signed_free(&s);

    r.mode = ORIGO_S3_HEADERS;
    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_OK, "header token: signs", NULL, NULL);
    check(s.authorization != NULL
          && strstr(s.authorization, "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,") != NULL,
          "header token: signed", s.authorization, "");
    check(s.authorization != NULL && strstr(s.authorization, SECRET) == NULL, "secret not in output", NULL, NULL);
    origo_s3_signed_free(&s);
}

static void test_fingerprint(void)
{
    char a[17], b[17], c[17];

    check(origo_s3_fingerprint(SECRET, a) && origo_s3_fingerprint(SECRET, b)
          && origo_s3_fingerprint("other", c), "fingerprint: computes", NULL, NULL);
    check(strlen(a) == 16 && strcmp(a, b) == 0 && strcmp(a, c) != 0, "fingerprint: stable, differs", a, c);
    check(strstr(SECRET, a) == NULL, "fingerprint: not the secret", a, NULL);
}

static void test_bad_input(void)
{
    origo_s3_credentials c = example_credentials();
    origo_s3_request r = { "GET", "ftp://x/y", NULL, NULL, 0, NULL, WHEN, ORIGO_S3_HEADERS, 0 };
    origo_s3_header crlf = { "X-Evil", "a\r\nb: c" };
    origo_s3_signed s;

    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_BAD_INPUT, "bad: not http", NULL, NULL);
    r.url = "http://user@host/x";
    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_BAD_INPUT, "bad: userinfo", NULL, NULL);
    r.url = "http://host/x";
    r.mode = ORIGO_S3_QUERY;
    r.expires = 0;
    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_BAD_INPUT, "bad: expires 0", NULL, NULL);
    r.expires = 604801;
    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_BAD_INPUT, "bad: expires > 7 days", NULL, NULL);
    r.mode = ORIGO_S3_HEADERS;
    r.headers = &crlf;
    r.header_count = 1;
    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_BAD_INPUT, "bad: CR/LF in a header", NULL, NULL);
    r.header_count = 0;
    c.secret_key = "";
    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_BAD_INPUT, "bad: empty secret", NULL, NULL);
    c.secret_key = SECRET;
    c.region = NULL;
    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_BAD_INPUT, "bad: no region", NULL, NULL);
    origo_s3_signed_free(&s);
}

/* The authority goes into the signed URL as it is, so it must be one a request line can carry
   (found by Fuzz/C/fuzz_s3_sign.c: bytes >= 0x80 and controls were signed into the URL, and an
   unclosed '[' was reported as out of memory). */
static void test_bad_authority(void)
{
    static const char *const bad[] = {
        "https://bucket.s3.amazo\222\236\210\214.com/x", "http://h\r\nX-Evil: 1/x", "http://h x/y",
        "http://[::1/x", "http://[::1]x/y", "http://[::1]]/y", "http://:81/x", "http://[]:81/x",
    };
    origo_s3_credentials c = example_credentials();
    origo_s3_request r = { "GET", NULL, NULL, NULL, 0, NULL, WHEN, ORIGO_S3_QUERY, 300 };
    origo_s3_signed s;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r.url = bad[i];
        r.host = NULL;
        check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_BAD_INPUT, "bad authority, Host from the URL", bad[i], "BAD_INPUT");
        r.host = "bucket.example";
        check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_BAD_INPUT, "bad authority, Host given", bad[i], "BAD_INPUT");
    }
    r.host = NULL;
    r.url = "http://[::1]:8080/x";
    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_OK && strstr(s.canonical_request, "\nhost:[::1]:8080\n") != NULL
          && strncmp(s.url, "http://[::1]:8080/x?", 20) == 0, "IPv6 authority with port", s.url, "http://[::1]:8080/x?...");
    origo_s3_signed_free(&s);
    r.url = "https://[2001:DB8::1]/x";
    check(origo_s3_sign(&c, &r, &s) == ORIGO_S3_OK && strstr(s.canonical_request, "\nhost:[2001:db8::1]\n") != NULL,
          "IPv6 authority", s.canonical_request, "host:[2001:db8::1]");
    origo_s3_signed_free(&s);
}

/* --sign: one signature from stdin, for comparison with another signer. */
static void print_escaped(const char *key, const char *value)
{
    printf("%s=", key);
    for (; value != NULL && *value != '\0'; value++) {
        if (*value == '\n') {
            fputs("\\n", stdout);
        }
        else {
            putchar(*value);
        }
    }
    putchar('\n');
}

static int sign_from_stdin(void)
{
    static char lines[64][4096];
    origo_s3_header headers[16];
    origo_s3_credentials c;
    origo_s3_request r;
    origo_s3_signed s;
    size_t n = 0, header_count = 0;
    int rc;

    memset(&c, 0, sizeof(c));
    memset(&r, 0, sizeof(r));
    r.method = "GET";
    while (n < 64 && fgets(lines[n], sizeof(lines[n]), stdin) != NULL) {
        char *line = lines[n++], *eq;
        line[strcspn(line, "\r\n")] = '\0';
        eq = strchr(line, '=');
        if (eq == NULL) {
            continue;
        }
        *eq++ = '\0';
        if (strcmp(line, "access_key") == 0) c.access_key = eq;
        else if (strcmp(line, "secret_key") == 0) c.secret_key = eq;
        else if (strcmp(line, "region") == 0) c.region = eq;
        else if (strcmp(line, "token") == 0) c.security_token = eq;
        else if (strcmp(line, "method") == 0) r.method = eq;
        else if (strcmp(line, "url") == 0) r.url = eq;
        else if (strcmp(line, "host") == 0) r.host = eq;
        else if (strcmp(line, "payload_hash") == 0) r.payload_hash = eq;
        else if (strcmp(line, "mode") == 0) r.mode = strcmp(eq, "query") == 0 ? ORIGO_S3_QUERY : ORIGO_S3_HEADERS;
        else if (strcmp(line, "expires") == 0) r.expires = strtoul(eq, NULL, 10);
        else if (strcmp(line, "when") == 0) r.when = (time_t)strtoll(eq, NULL, 10);
        else if (strcmp(line, "header") == 0 && header_count < 16) {
            char *colon = strchr(eq, ':');
            if (colon != NULL) {
                *colon++ = '\0';
                headers[header_count].name = eq;
                headers[header_count].value = colon;
                header_count++;
            }
        }
    }
    r.headers = headers;
    r.header_count = header_count;
    rc = origo_s3_sign(&c, &r, &s);
    printf("rc=%d\n", rc);
    if (rc != ORIGO_S3_OK) {
        return 1;
    }
    printf("amz_date=%s\nsignature=%s\npayload_hash=%s\n", s.amz_date, s.signature, s.payload_hash);
    print_escaped("authorization", s.authorization);
    print_escaped("url", s.url);
    print_escaped("canonical_request", s.canonical_request);
    origo_s3_signed_free(&s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--sign") == 0) {
        return sign_from_stdin();
    }
    test_get_object();
    test_bucket_examples();
    test_presigned();
    test_canonical_forms();
    test_fingerprint();
    test_bad_input();
    test_bad_authority();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
