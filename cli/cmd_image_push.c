/* `ak image push SRC DEST`: an image of the OCI layout cache
 * ($AK_HOME/images/oci) to a registry, through vmm/image/oci's push client.
 * A local image name as SRC (a snapshot) is packed into the cache first, as
 * an ak disk image recorded under DEST (vmm/image/disk_pack.h). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "cli/registry_opts.h"
#include "vmm/image/disk_pack.h"
#include "vmm/image/image.h"
#include "vmm/image/oci/push.h"

const struct cli_option *const cli_image_push_tables[] = { cli_registry_options, NULL };

/* The local image name into the layout dir, recorded as dest. */
static int pack_local(const char *store_dir, const char *dir, const char *name, const char *dest, struct ak_error *err)
{
        struct image_store *s = NULL;
        struct image_disk_packed res;
        int r = image_store_open(store_dir, &s, err);
        if (r == 0) {
                fprintf(stderr, "packing the disk of %s\n", name);
                r = image_disk_pack(s, name, dir, dest, NULL, &res, err);
        }
        if (r == 0)
                fprintf(stderr, "packed %s: %.1f MiB disk, %.1f MiB compressed\n", name,
                        (double)res.disk_bytes / (1024.0 * 1024.0), (double)res.layer_bytes / (1024.0 * 1024.0));
        image_store_free(s);
        return r;
}

int cli_image_push(const struct cli_command *cmd, int argc, char **argv)
{
        struct cli_registry reg;
        const char *ref[2];
        size_t n_ref = 0;
        struct cli_opts po;
        int c, r;
        cli_registry_init(&reg);
        cli_opts_init(&po, cmd, cli_image_push_tables, argc, argv);
        while ((c = cli_opts_next(&po)) != CLI_OPT_DONE) {
                if (c == CLI_OPT_ERROR)
                        return 2;
                if (c == CLI_OPT_POSITIONAL) {
                        if (n_ref == 2)
                                return cli_usage_error(cmd, "push takes SRC and DEST (also given %s)", po.arg);
                        ref[n_ref++] = po.arg;
                } else if ((r = cli_registry_flag(&reg, &po, "push", c)) > 0) {
                        return r;
                }
        }
        for (int i = po.dashdash ? cli_opts_index(&po) : argc; i < argc; i++) {
                if (n_ref == 2)
                        return cli_usage_error(cmd, "push takes SRC and DEST (also given %s)", argv[i]);
                ref[n_ref++] = argv[i];
        }
        if (n_ref != 2)
                return cli_usage_error(cmd, "push takes SRC (a pulled reference) and DEST (where to push it)");
        struct ak_error err = {};
        char store[PATH_MAX], dir[PATH_MAX];
        struct oci_push_result res;
        const char *src = ref[0];
        char dest[IMAGE_REF_MAX];
        r = cli_image_store_dirs(store, dir, &err);
        if (r == 0 && !image_key_is_ref(src)) {
                r = image_ref_normalize(ref[1], dest, &err);
                if (r == 0)
                        r = pack_local(store, dir, src, dest, &err);
                src = dest;
        }
        if (r == 0) {
                fprintf(stderr, "pushing %s to %s\n", src, ref[1]);
                r = oci_push(dir, src, ref[1], &reg.o, &res, &err);
        }
        if (r < 0) {
                fprintf(stderr, "ak image push: %s\n", err.msg);
                return 1;
        }
        fprintf(stderr, "pushed %s: %zu blob%s, %zu sent (%.1f MiB), the rest already there\n", res.ref, res.n_blobs,
                res.n_blobs == 1 ? "" : "s", res.n_uploaded, (double)res.uploaded_bytes / (1024.0 * 1024.0));
        printf("%s\n", res.manifest_digest);
        return 0;
}
