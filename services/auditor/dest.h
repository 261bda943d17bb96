/* Destinations: where delivered events go. Each kind is a static ops table
 * (http_webhook, file, stdout); delivery.c drives them.
 *
 * A delivery hands a destination n formatted events (each one JSON text,
 * agentkernel or OCSF) and gets back one of three results:
 *   DEST_OK        all of them are delivered;
 *   DEST_RETRY     none can be taken as delivered; try again later
 *                  (connection errors, timeouts, HTTP 5xx, 408, 429, I/O errors);
 *   DEST_REJECTED  the destination refused them for good (HTTP 4xx other than
 *                  408/429): they go to the dead-letter file.
 *
 * A destination's state belongs to its delivery thread. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "lib/base/error.h"
#include "services/auditor/config.h"

enum dest_result {
        DEST_OK,
        DEST_RETRY,
        DEST_REJECTED,
};

#define DEST_MAX_RESPONSE (64 * 1024)

struct dest_outcome {
        enum dest_result result;
        long http_status;          /* 0 when not HTTP or no response */
        uint64_t retry_after_ms;   /* from Retry-After; 0: none */
        char message[512];         /* for status and logs */
        char *response;            /* response body (malloc'd, may be NULL) */
        size_t response_len;
};

struct dest_ops {
        const char *type;
        bool local;   /* quick and on this machine: drained at shutdown */
        int (*open)(const struct audit_dest_config *dc, const struct audit_config *c, void **ret_state,
                    struct ak_error *err);
        /* Delivers events[0..n) (each one JSON text without newline). *stop
         * becomes non-zero at shutdown: return DEST_RETRY soon after. Fills
         * *out (zeroed by the caller). */
        void (*deliver)(void *state, const struct iovec *events, size_t n, const int *stop,
                        struct dest_outcome *out);
        void (*close)(void *state);
};

extern const struct dest_ops dest_webhook_ops;
extern const struct dest_ops dest_file_ops;
extern const struct dest_ops dest_stdout_ops;

const struct dest_ops *dest_ops_for(enum audit_dest_type type);

/* Writes events[0..n) to fd, each followed by a newline (short writes,
 * EINTR and IOV_MAX handled). Returns 0 or -errno. */
int dest_write_lines(int fd, const struct iovec *events, size_t n);
