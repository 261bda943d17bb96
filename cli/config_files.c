#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config_files.h"
#include "lib/base/io.h"
#include "protos/ak/v1/scheduler.pb-c.h"

static int push_one(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                    const struct config_file_entry *f, const char *dir, struct ak_error *err)
{
        char src[PATH_MAX], parent[PATH_MAX];
        if (snprintf(src, sizeof(src), "%s%s%s", f->source[0] == '/' ? "" : dir, f->source[0] == '/' ? "" : "/",
                     f->source) >= (int)sizeof(src))
                return ak_error_set(err, -ENAMETOOLONG, "[[files]] %s: path too long", f->source);
        char *data = NULL;
        size_t len = 0;
        int r = ak_read_file(src, CONFIG_FILES_MAX_BYTES, &data, &len);
        if (r == -EFBIG)
                return ak_error_set(err, r, "[[files]] %s: larger than 7 MiB (copy it with `ak sandbox cp`)", src);
        if (r < 0)
                return ak_error_errno(err, r, "[[files]] read %s", src);

        snprintf(parent, sizeof(parent), "%s", f->dest);
        char *slash = strrchr(parent, '/');
        ProtobufCMessage *resp = NULL;
        if (slash && slash != parent) {
                *slash = 0;
                Ak__V1__MkdirRequest mk = AK__V1__MKDIR_REQUEST__INIT;
                mk.sandbox = (char *)sandbox;
                mk.path = parent;
                mk.recursive = true;
                if (rpc_unary(ch, &ak__v1__scheduler__descriptor, "Mkdir", &mk.base, opts, &resp, err) != RPC_OK) {
                        free(data);
                        ak_error_wrap(err, "[[files]] mkdir %s in %s", parent, sandbox);
                        return -EIO;
                }
                protobuf_c_message_free_unpacked(resp, NULL);
        }
        Ak__V1__WriteFileRequest req = AK__V1__WRITE_FILE_REQUEST__INIT;
        req.sandbox = (char *)sandbox;
        req.path = f->dest;
        req.content.data = (uint8_t *)data;
        req.content.len = len;
        req.mode = f->mode;
        r = rpc_unary(ch, &ak__v1__scheduler__descriptor, "WriteFile", &req.base, opts, &resp, err);
        free(data);
        if (r != RPC_OK) {
                ak_error_wrap(err, "[[files]] write %s to %s:%s", src, sandbox, f->dest);
                return -EIO;
        }
        protobuf_c_message_free_unpacked(resp, NULL);
        return 0;
}

int config_files_push(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                      const struct config *cfg, const char *config_path, struct ak_error *err)
{
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", config_path);
        char *slash = strrchr(dir, '/');
        if (!slash)
                snprintf(dir, sizeof(dir), ".");
        else if (slash == dir)
                dir[1] = 0;
        else
                *slash = 0;
        for (size_t i = 0; i < cfg->n_files; i++) {
                int r = push_one(ch, opts, sandbox, &cfg->files[i], dir, err);
                if (r < 0)
                        return r;
        }
        return 0;
}
