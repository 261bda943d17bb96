/* The stdout destination: JSONL on fd 1, as agentkernel's write_to_stdout. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "services/auditor/dest.h"

static int stdout_open(const struct audit_dest_config *dc, const struct audit_config *c, void **ret_state,
                       struct ak_error *err)
{
        *ret_state = NULL;
        return 0;
}

static void stdout_deliver(void *state, const struct iovec *events, size_t n, const int *stop,
                           struct dest_outcome *out)
{
        int r = dest_write_lines(STDOUT_FILENO, events, n);

        if (r < 0) {
                out->result = DEST_RETRY;
                snprintf(out->message, sizeof(out->message), "write to stdout: %s", strerror(-r));
                return;
        }
        out->result = DEST_OK;
}

static void stdout_close(void *state)
{
}

const struct dest_ops dest_stdout_ops = {
        .type = "stdout",
        .local = true,
        .open = stdout_open,
        .deliver = stdout_deliver,
        .close = stdout_close,
};
