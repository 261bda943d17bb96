/* Image references, parsed exactly as docker does (github.com/distribution/
 * reference's ParseNormalizedNamed + TagNameOnly):
 *
 *   python:3.12-alpine          -> docker.io/library/python:3.12-alpine
 *   ubuntu                      -> docker.io/library/ubuntu:latest
 *   ghcr.io/org/ci:sha          -> ghcr.io/org/ci:sha
 *   localhost:5000/x@sha256:HEX -> localhost:5000/x@sha256:HEX
 *   registry:5000/a/b:tag       -> registry:5000/a/b:tag
 *
 * The first path component is the registry when it holds a '.' or a ':', is
 * "localhost", or has an upper-case letter; otherwise the registry is
 * docker.io (index.docker.io is spelt docker.io) and a one-component name on
 * docker.io gets "library/". The repository path must be lower case
 * (components [a-z0-9]+ joined by '.', '_', '__' or runs of '-', separated by
 * '/'), a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, a digest is
 * sha256:<64 lowercase hex> (the only algorithm ak verifies). A name given
 * with neither tag nor digest gets the tag "latest"; with both, the digest is
 * what is pulled and the tag is kept for the name. The whole name (registry
 * and path as given) is at most 255 bytes.
 *
 * Pure functions on outside bytes; thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OCI_REF_NAME_MAX 255
#define OCI_REF_TAG_MAX 128
#define OCI_DIGEST_LEN 71 /* "sha256:" + 64 */
/* The longest normalized reference OCI_REF_FORMAT_MAX - 1 bytes. */
#define OCI_REF_FORMAT_MAX (OCI_REF_NAME_MAX + 16 + 1 + OCI_REF_TAG_MAX + 1 + OCI_DIGEST_LEN + 1)

struct oci_ref {
        char domain[OCI_REF_NAME_MAX + 1]; /* "docker.io", "localhost:5000", "[::1]:5000" */
        char path[OCI_REF_NAME_MAX + 16];  /* "library/python" */
        char tag[OCI_REF_TAG_MAX + 1];     /* "" when only a digest was given */
        char digest[OCI_DIGEST_LEN + 1];   /* "" or "sha256:<64 hex>" */
};

/* Parses len bytes of s (need not be NUL-terminated). Returns 0 and *ret, or
 * -EINVAL with err saying what is wrong with which part ("invalid reference
 * \"Foo\": repository name must be lowercase"). */
int oci_ref_parse(const char *s, size_t len, struct oci_ref *ret, struct ak_error *err);

/* The normalized reference: domain/path[:tag][@digest]. */
void oci_ref_format(const struct oci_ref *ref, char ret[OCI_REF_FORMAT_MAX]);

/* The host[:port] to send API requests to: docker.io's is
 * registry-1.docker.io, every other registry's is its domain. */
const char *oci_ref_api_host(const struct oci_ref *ref);

/* What to ask the registry's manifest endpoint for: the digest if there is
 * one, else the tag. */
const char *oci_ref_reference(const struct oci_ref *ref);

/* 0 if s is "sha256:" followed by exactly 64 lowercase hex digits, else
 * -EINVAL. */
int oci_ref_digest_check(const char *s, size_t len);

/* Whether host (a registry's host[:port], "[v6]:port" allowed) is a loopback
 * registry, where docker allows plain HTTP: "localhost", 127.0.0.0/8 or ::1,
 * any port. */
bool oci_host_is_loopback(const char *host);

#ifdef __cplusplus
}
#endif
