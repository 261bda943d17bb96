/* One HTTP exchange over libcurl, as the registry client needs it: no
 * automatic redirects (the caller decides where its Authorization may go),
 * no content decoding (blob bytes are hashed exactly as served), http and
 * https only, TLS verified (against a given CA file when set), bounded
 * bodies, and the response headers the distribution API uses.
 *
 * Thread-safety: one struct oci_http per thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "vmm/image/oci/auth.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCI_URL_MAX 4096
/* Error bodies and JSON answers kept for messages and parsing. */
#define OCI_HTTP_SMALL_BODY_MAX ((size_t)64 << 10)

struct oci_http;

/* ca_file: PEM bundle to verify servers with instead of the system's, or
 * NULL. low_speed_s: abort a transfer that moves under 1 byte/s for that
 * long (0: 60 s). */
int oci_http_new(const char *ca_file, int low_speed_s, struct oci_http **ret, struct ak_error *err);
void oci_http_free(struct oci_http *h);

struct oci_http_resp;

/* Receives body bytes of a 2xx answer; returns 0 to go on or -errno to abort
 * the transfer (the error is then the request's result). */
typedef int (*oci_http_sink)(void *userdata, const struct oci_http_resp *resp, const void *data, size_t len);

struct oci_http_req {
        const char *method;        /* "GET", "HEAD", "POST" or "PUT" */
        const char *url;
        const char *accept;        /* or NULL */
        const char *authorization; /* header value ("Bearer ..."), or NULL; never logged */
        const char *form;          /* POST body (application/x-www-form-urlencoded) */
        uint64_t range_start;      /* > 0: Range: bytes=N- */
        const char *content_type;  /* PUT: Content-Type of the body, or NULL */
        const char *upload_path;   /* PUT: body read from this file (opened per request), or NULL */
        const void *upload_data;   /* PUT: else the body is these bytes */
        size_t upload_len;
        oci_http_sink sink;        /* 2xx bodies go here when set, else are buffered */
        void *sink_userdata;
        size_t max_body;           /* buffered bodies: more is -EFBIG (0: OCI_HTTP_SMALL_BODY_MAX) */
};

struct oci_http_resp {
        long status;
        char content_type[256];
        char www_authenticate[OCI_AUTH_HEADER_MAX + 1];
        bool www_authenticate_too_long;
        char docker_content_digest[128];
        char content_range[128];
        char location[OCI_URL_MAX]; /* absolute, for 3xx */
        char location_raw[OCI_URL_MAX]; /* the Location header as sent (any status) */
        bool location_too_long;
        int64_t content_length;     /* -1 when not given */
        char *body;                 /* buffered body (NUL-terminated), or NULL */
        size_t body_len;
};

/* Performs req. Returns 0 once a response arrived (any status; *resp filled,
 * free its body with oci_http_resp_clear), or -errno for a transport failure
 * with err saying what happened; *ret_retryable says whether trying again
 * may help (connection refused or reset, timeouts, a transfer cut short). A
 * sink's error is returned as is. -EPROTO + CURLE_SSL_CONNECT_ERROR's case
 * sets *ret_tls_handshake (the server may speak plain HTTP). */
int oci_http_do(struct oci_http *h, const struct oci_http_req *req, struct oci_http_resp *resp,
                bool *ret_retryable, bool *ret_tls_handshake, struct ak_error *err);
void oci_http_resp_clear(struct oci_http_resp *resp);

/* Percent-encodes s for a query parameter into a malloc'd string. */
int oci_http_escape(struct oci_http *h, const char *s, char **ret);

/* Splits an absolute http(s) URL: scheme ("http"/"https"), host[:port] as
 * written in the URL authority (port omitted when default). -EINVAL when not
 * an http(s) URL with a host. */
int oci_http_url_origin(const char *url, char *ret_scheme, size_t scheme_size, char *ret_hostport,
                        size_t hostport_size);

#ifdef __cplusplus
}
#endif
