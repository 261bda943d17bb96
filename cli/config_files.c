#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli/config_files.h"
#include "cli/sandbox_cp.h"

static int push_one(struct rpc_channel *ch, const struct rpc_call_options *opts, const char *sandbox,
                    const struct config_file_entry *f, const char *dir, struct ak_error *err)
{
        char src[PATH_MAX];
        if (snprintf(src, sizeof(src), "%s%s%s", f->source[0] == '/' ? "" : dir, f->source[0] == '/' ? "" : "/",
                     f->source) >= (int)sizeof(src))
                return ak_error_set(err, -ENAMETOOLONG, "[[files]] %s: path too long", f->source);
        struct sandbox_cp_put a = { .src = src, .guest_path = f->dest, .exact = true, .mode = f->mode };
        int r = sandbox_cp_put(ch, opts, sandbox, &a, err);
        if (r < 0)
                ak_error_wrap(err, "[[files]] %s to %s:%s", src, sandbox, f->dest);
        return r;
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
