/* What the scheduler checks in requests and executor statuses before anything
 * touches its state, and the sandbox defaults it places by. Every
 * user-controlled count and length has a limit here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "protos/ak/v1/executor.pb-c.h"
#include "protos/ak/v1/sandbox.pb-c.h"

#define SPEC_TENANT_MAX 63
#define SPEC_DEFAULT_TENANT "default"
#define SPEC_NAME_MAX 63                 /* [a-z0-9][a-z0-9_.-]{0,62} */
#define SPEC_MAX_VCPUS 1024
#define SPEC_MAX_MEMORY_MB (4ull << 20)  /* 4 TiB */
#define SPEC_MAX_SELECTOR 32             /* node_selector entries */
#define SPEC_MAX_LABEL_BYTES 256         /* a label key or value */
#define SPEC_IMAGE_MAX 511               /* spec.image: a name or an OCI reference */
#define SPEC_DEFAULT_IMAGE "base"        /* what "" means; every executor can build it */

#define EXECUTOR_ID_MAX 128              /* [A-Za-z0-9._:-]{1,128} */
#define EXECUTOR_ADDRESS_MAX 512
#define EXECUTOR_MAX_LABELS 64
#define EXECUTOR_MAX_IMAGES 1024
#define EXECUTOR_MAX_POOLS 256
#define EXECUTOR_MAX_PULLS 64
#define EXECUTOR_MAX_SANDBOXES 100000

/* 0 when name is a valid sandbox name, else -EINVAL with err saying why
 * (field names the request field for the message). */
int spec_check_name(const char *field, const char *name, struct ak_error *err);

/* A tenant name: 1 to SPEC_TENANT_MAX of [A-Za-z0-9._-], starting with a
 * letter or digit (what token files allow). 0 or -EINVAL. */
int spec_check_tenant(const char *tenant, struct ak_error *err);

/* What placement needs from a SandboxSpec, with agentkernel's defaults
 * filled in: image "" → "base", vcpus 0 → 1, memory 0 → the profile's
 * (moderate and permissive 512 MB, restrictive 256 MB), profile "" →
 * "moderate". Points into the spec (or, for an OCI reference, at
 * image_ref: its normalized form, as executors report it); valid while the
 * spec lives, and not to be copied. */
struct spec_needs {
        const char *image;
        char image_ref[SPEC_IMAGE_MAX + 1];
        const char *profile;
        uint32_t vcpus;
        uint64_t memory_mb;
};

/* Whether image is a local image name (what `ak image build NAME` makes:
 * no '/', ':' or '@'), which only an executor that has it can boot; else it
 * is an OCI reference ("python:3.12-alpine", "ghcr.io/org/ci@sha256:..."),
 * which an executor pulls when it lacks it. */
bool spec_image_is_local(const char *image);

/* Checks a spec from a client (spec may be NULL: all defaults). The name
 * may be empty (the scheduler picks one). Returns 0 or -EINVAL. */
int spec_check(const Ak__V1__SandboxSpec *spec, struct spec_needs *ret, struct ak_error *err);

/* A fresh name "sb-" + 10 random [a-z0-9] into buf (at least 14 bytes). */
int spec_generate_name(char *buf, size_t size);

/* Checks an executor's status from RegisterExecutor or Heartbeat: id and
 * address present and sane, counts under the limits, every sandbox named.
 * Returns 0 or -EINVAL. */
int spec_check_status(const Ak__V1__ExecutorStatus *st, struct ak_error *err);
