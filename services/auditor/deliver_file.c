/* The file destination: JSONL appended and fsync'ed, as agentkernel's
 * append_to_file (which creates the parent directories) but durable. The file
 * is opened for each batch, so a log rotated away is started afresh. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/io.h"
#include "services/auditor/dest.h"

struct file_dest {
        char *path;
};

int dest_write_lines(int fd, const struct iovec *events, size_t n)
{
        _cleanup_free_ struct iovec *iov = malloc(2 * n * sizeof(*iov));

        if (!iov)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                iov[2 * i] = events[i];
                iov[2 * i + 1] = (struct iovec){ (void *)"\n", 1 };
        }
        return ak_writev_full(fd, iov, 2 * n, -1);
}

static int file_open(const struct audit_dest_config *dc, const struct audit_config *c, void **ret_state,
                     struct ak_error *err)
{
        struct file_dest *f = calloc(1, sizeof(*f));

        if (!f || !(f->path = strdup(dc->path))) {
                free(f);
                return ak_error_errno(err, -ENOMEM, "file destination");
        }
        *ret_state = f;
        return 0;
}

static void file_deliver(void *state, const struct iovec *events, size_t n, const int *stop,
                         struct dest_outcome *out)
{
        struct file_dest *f = state;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0 && errno == ENOENT && ak_mkdir_p(f->path, 0755, true) == 0)
                fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0 || fstat(fd, &st) < 0) {
                out->result = DEST_RETRY;
                snprintf(out->message, sizeof(out->message), "open %s: %s", f->path, strerror(errno));
                return;
        }
        r = dest_write_lines(fd, events, n);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        if (r < 0) {
                /* Take a partial batch back so a retry does not leave half a line. */
                if (ftruncate(fd, st.st_size) == 0)
                        fsync(fd);
                out->result = DEST_RETRY;
                snprintf(out->message, sizeof(out->message), "write %s: %s", f->path, strerror(-r));
                return;
        }
        out->result = DEST_OK;
}

static void file_close(void *state)
{
        struct file_dest *f = state;

        if (!f)
                return;
        free(f->path);
        free(f);
}

const struct dest_ops dest_file_ops = {
        .type = "file",
        .local = true,
        .open = file_open,
        .deliver = file_deliver,
        .close = file_close,
};
