/* `ak image kernel [BZIMAGE [--builtin FILE] | --debian]`: which guest
 * kernel the image store boots: Debian's cloud kernel (the default, fetched
 * with apt) or ak's small one built from Debian's linux-source
 * (`bazel build -c opt //vmm/kernel:guest_kernel`, vmm/kernel/README.md). The base
 * image is rebuilt for the kernel on next use; images made for the other
 * kernel stay (switching back finds them). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "lib/base/pathfmt.h"
#include "vmm/image/image.h"

enum { KERNEL_BUILTIN = 1, KERNEL_DEBIAN };

static const struct cli_option kernel_opts[] = { { "builtin", 0, true, KERNEL_BUILTIN },
                                                 { "debian", 0, false, KERNEL_DEBIAN },
                                                 { NULL, 0, false, 0 } };
const struct cli_option *const cli_image_kernel_tables[] = { kernel_opts, NULL };

/* modules.builtin beside the image, as the kernel build leaves it. */
static int default_builtin(const char *bzimage, char ret[PATH_MAX])
{
        const char *slash = strrchr(bzimage, '/');
        if (!slash)
                return pathfmt(ret, PATH_MAX, "modules.builtin");
        return pathfmt(ret, PATH_MAX, "%.*s/modules.builtin", (int)(slash - bzimage), bzimage);
}

static int run(const char *bzimage, const char *builtin, bool debian, struct ak_error *err)
{
        char store_dir[PATH_MAX], layout[PATH_MAX], def[PATH_MAX], entry[IMAGE_KERNEL_ENTRY_MAX];
        struct image_store *s = NULL;
        struct image_kernel k;
        int r = cli_image_store_dirs(store_dir, layout, err);
        if (r == 0)
                r = image_store_open(store_dir, &s, err);
        if (r < 0)
                return r;
        if (debian) {
                r = image_kernel_use_debian(s, NULL, &k, err);
                if (r == 0)
                        printf("kernel %s (release %s): Debian's\n", k.package, k.release);
        } else if (bzimage) {
                if (!builtin && default_builtin(bzimage, def) < 0)
                        r = ak_error_set(err, -ENAMETOOLONG, "%s: path too long", bzimage);
                if (r == 0)
                        r = image_kernel_install(s, bzimage, builtin ? builtin : def, NULL, entry, err);
                if (r == 0)
                        printf("kernel %s: now the kernel of %s (the base image is rebuilt for it on next use)\n",
                               entry, store_dir);
        } else {
                r = image_kernel_get(s, NULL, &k, err);
                if (r == 0)
                        printf("kernel %s (release %s)\n", k.package, k.release);
        }
        image_store_free(s);
        return r;
}

int cli_image_kernel(const struct cli_command *cmd, int argc, char **argv)
{
        const char *bzimage = NULL, *builtin = NULL;
        bool debian = false;
        struct cli_opts po;
        int c;
        cli_opts_init(&po, cmd, cli_image_kernel_tables, argc, argv);
        while ((c = cli_opts_next(&po)) != CLI_OPT_DONE) {
                if (c == CLI_OPT_ERROR)
                        return 2;
                if (c == KERNEL_BUILTIN)
                        builtin = po.arg;
                else if (c == KERNEL_DEBIAN)
                        debian = true;
                else if (c == CLI_OPT_POSITIONAL && bzimage)
                        return cli_usage_error(cmd, "kernel takes one BZIMAGE (also given %s)", po.arg);
                else if (c == CLI_OPT_POSITIONAL)
                        bzimage = po.arg;
        }
        if (po.dashdash && cli_opts_index(&po) < argc) {
                if (bzimage || cli_opts_index(&po) + 1 < argc)
                        return cli_usage_error(cmd, "kernel takes one BZIMAGE");
                bzimage = argv[cli_opts_index(&po)];
        }
        if (debian && (bzimage || builtin))
                return cli_usage_error(cmd, "kernel --debian takes no BZIMAGE or --builtin");
        if (builtin && !bzimage)
                return cli_usage_error(cmd, "kernel --builtin FILE goes with a BZIMAGE");
        struct ak_error err = {};
        if (run(bzimage, builtin, debian, &err) < 0) {
                fprintf(stderr, "ak image kernel: %s\n", err.msg);
                return 1;
        }
        return 0;
}
