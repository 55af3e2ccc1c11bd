/*
 * libFuzzer target: one input is up to six lines, "url\nregion\naccess key\nsecret\ntoken\nheader",
 * where header is "Name: value" (signed besides host and the x-amz-* ones); an empty or missing
 * region, key or secret takes a fixed example value, an empty token or header means none.
 * Code under test (mod_glue/origo_s3.c): origo_s3_sign in header mode and in query mode
 * (canonical URI, query and headers), with the Host header made from the URL and, as the module
 * calls it, given apart; origo_s3_fingerprint of the secret. Built by scripts/fuzz-c.sh.
 * Checked: the result is OK or BAD_INPUT (never NO_MEMORY); the signed URL is visible ASCII (no
 * spaces, controls or bytes >= 0x80) and starts with the input's scheme and authority; the
 * Authorization value has no control bytes (no line breaks) and ends with the signature; signing
 * twice at the same `when` gives the same signature, URL and Authorization.
 */
#include "origo_s3.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "invariant failed: %s\n", #cond); abort(); } } while (0)
#define WHEN ((time_t)1369353600) /* 2013-05-24T00:00:00Z, as in AWS's examples */

/* Visible ASCII only (a request target); with `header_value`, what may go in a header value:
   no control bytes, so no line breaks (spaces and obs-text bytes >= 0x80 are allowed there). */
static int printable(const char *s, int header_value)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7F || (!header_value && (c == ' ' || c > 0x7F))) {
            return 0;
        }
    }
    return 1;
}

static int is_lower_hex(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return s[n] == '\0';
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

static void sign_and_check(const origo_s3_credentials *cred, origo_s3_request *req, origo_s3_mode mode)
{
    origo_s3_signed a, b;
    const char *authority;
    char tail[90];
    int rc;

    req->mode = mode;
    rc = origo_s3_sign(cred, req, &a);
    CHECK(rc == ORIGO_S3_OK || rc == ORIGO_S3_BAD_INPUT);
    if (rc != ORIGO_S3_OK) {
        CHECK(a.url == NULL && a.authorization == NULL && a.canonical_request == NULL);
        return;
    }
    CHECK(strlen(a.amz_date) == 16 && is_lower_hex(a.signature, 64));
    CHECK(a.url != NULL && printable(a.url, 0) && a.canonical_request != NULL && a.string_to_sign != NULL);
    authority = strstr(req->url, "://") + 3;
    CHECK(strncmp(a.url, req->url, (size_t)(authority - req->url) + strcspn(authority, "/?#")) == 0);
    if (mode == ORIGO_S3_HEADERS) {
        snprintf(tail, sizeof(tail), ",Signature=%s", a.signature);
        CHECK(a.authorization != NULL && printable(a.authorization, 1) && ends_with(a.authorization, tail));
    }
    else {
        snprintf(tail, sizeof(tail), "X-Amz-Signature=%s", a.signature);
        CHECK(a.authorization == NULL && ends_with(a.url, tail));
    }
    CHECK(origo_s3_sign(cred, req, &b) == ORIGO_S3_OK);
    CHECK(strcmp(a.signature, b.signature) == 0 && strcmp(a.url, b.url) == 0
          && strcmp(a.canonical_request, b.canonical_request) == 0
          && (mode == ORIGO_S3_QUERY || strcmp(a.authorization, b.authorization) == 0));
    origo_s3_signed_free(&a);
    origo_s3_signed_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const defaults[] = { "", "us-east-1", "AKIAIOSFODNN7EXAMPLE",
                                            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "", "" };
    const char *field[6];
    char *text = malloc(size + 1), *p, *colon, fp1[17], fp2[17];
    origo_s3_credentials cred;
    origo_s3_request req;
    origo_s3_header header;
    size_t i;

    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    for (i = 0, p = text; i < 6; i++) {
        char *nl = p != NULL ? strchr(p, '\n') : NULL;
        field[i] = p != NULL && *p != '\0' && (nl == NULL || nl > p) ? p : defaults[i];
        if (nl != NULL) {
            *nl = '\0';
        }
        p = nl != NULL ? nl + 1 : NULL;
    }

    memset(&cred, 0, sizeof(cred));
    cred.region = field[1];
    cred.access_key = field[2];
    cred.secret_key = field[3];
    cred.security_token = field[4];
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = field[0];
    req.payload_hash = ORIGO_S3_EMPTY_SHA256;
    req.when = WHEN;
    req.expires = 300;
    colon = strchr(field[5], ':');
    if (colon != NULL) {
        *colon = '\0';
        header.name = field[5];
        header.value = colon + 1;
        req.headers = &header;
        req.header_count = 1;
    }
    sign_and_check(&cred, &req, ORIGO_S3_HEADERS);
    sign_and_check(&cred, &req, ORIGO_S3_QUERY);
    req.host = "bucket.example:8080";   /* as the module calls it: the Host header given apart */
    sign_and_check(&cred, &req, ORIGO_S3_QUERY);

    CHECK(origo_s3_fingerprint(cred.secret_key, fp1) && origo_s3_fingerprint(cred.secret_key, fp2));
    CHECK(is_lower_hex(fp1, 16) && strcmp(fp1, fp2) == 0);
    free(text);
    return 0;
}
