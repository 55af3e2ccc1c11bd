/*
 * AWS Signature Version 4 for S3 GET requests (S3AccessKey, S3SecretKey, S3Region,
 * S3SecurityToken, S3UseHeaders).
 *
 * A pure function core: no httpd or APR types, only libc and OpenSSL's libcrypto, so a small test
 * program can call it with the documented AWS examples and with inputs checked against botocore.
 * The stages follow AWS's description: canonical request, string to sign, signature.
 */
#ifndef ORIGO_S3_H
#define ORIGO_S3_H

#include <stddef.h>
#include <time.h>

/* SHA-256 of an empty body, as x-amz-content-sha256 for a GET. */
#define ORIGO_S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* The payload hash of query-string signing (and of header signing without a body hash). */
#define ORIGO_S3_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* Credentials. Only `access_key` may ever be logged. */
typedef struct origo_s3_credentials {
    const char *access_key;       /* key id, e.g. AKIA... */
    const char *secret_key;       /* never logged, never copied into any output */
    const char *region;           /* e.g. "us-east-1" */
    const char *service;          /* NULL = "s3" */
    const char *security_token;   /* temporary credentials: the session token; NULL or "" = none */
} origo_s3_credentials;

/* A request header to include in the signature besides host and the x-amz-* ones. */
typedef struct origo_s3_header {
    const char *name;
    const char *value;
} origo_s3_header;

typedef enum origo_s3_mode {
    ORIGO_S3_HEADERS = 0,         /* Authorization, x-amz-date, x-amz-content-sha256 headers */
    ORIGO_S3_QUERY = 1            /* X-Amz-* query parameters (a presigned URL) */
} origo_s3_mode;

/* What to sign. */
typedef struct origo_s3_request {
    const char *method;           /* "GET" */
    /* Absolute http(s) URL as it goes on the wire: path and query already percent-encoded. The
       canonical forms are made by decoding and re-encoding each path segment and query part. */
    const char *url;
    /* The Host header the server will see; NULL = the URL's host, with ":port" only when the URL
       names a port that is not the scheme's default. */
    const char *host;
    const origo_s3_header *headers;   /* further headers to sign (e.g. Range), may be NULL */
    size_t header_count;
    const char *payload_hash;     /* NULL = UNSIGNED-PAYLOAD */
    time_t when;                  /* signing time (UTC seconds) */
    origo_s3_mode mode;
    unsigned long expires;        /* ORIGO_S3_QUERY: X-Amz-Expires in seconds (1..604800) */
} origo_s3_request;

/* The result. Strings are malloc'd; release with origo_s3_signed_free. */
typedef struct origo_s3_signed {
    char amz_date[17];            /* "20130524T000000Z" */
    char signature[65];           /* lower-case hex */
    const char *payload_hash;     /* the value to send as x-amz-content-sha256 (headers mode) */
    char *authorization;          /* headers mode: the Authorization value; NULL in query mode */
    /* The URL to send: scheme and authority as given, then the canonical path and query (each
       part decoded and AWS-encoded, parameters sorted), in query mode with the X-Amz-*
       parameters and X-Amz-Signature last. No fragment. */
    char *url;
    char *canonical_request;      /* for tests and debugging (contains no secret) */
    char *string_to_sign;
} origo_s3_signed;

/* Results of origo_s3_sign. */
#define ORIGO_S3_OK 0
#define ORIGO_S3_BAD_INPUT (-1)   /* missing credentials, not an http(s) URL, bad expiry */
#define ORIGO_S3_NO_MEMORY (-2)   /* allocation or libcrypto failure */

/*
 * Signs `req` with `cred` into `out` (zeroed first). Returns ORIGO_S3_OK or an error code; on
 * error `out` holds nothing to free.
 */
int origo_s3_sign(const origo_s3_credentials *cred, const origo_s3_request *req, origo_s3_signed *out);

/*
 * A short fingerprint of a secret for cache partitioning: the first 16 hex digits of
 * SHA-256("origo-s3-scope\n" + secret). Never reversible into the secret; still, not logged.
 * Returns 1, or 0 when libcrypto failed (out is then "").
 */
int origo_s3_fingerprint(const char *secret, char out[17]);

/* Frees the strings of `s` (safe on a zeroed struct, and twice). */
void origo_s3_signed_free(origo_s3_signed *s);

#endif
