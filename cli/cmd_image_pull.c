/* `ak image pull REF`: the OCI distribution client (vmm/image/oci) pulling
 * into the OCI layout cache under the image store, $AK_HOME/images/oci,
 * then image_import (vmm/image/oci_import.c) turning it into a bootable
 * root filesystem image. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "cli/progress.h"
#include "cli/registry_opts.h"
#include "lib/base/time.h"
#include "vmm/image/image.h"
#include "vmm/image/oci/pull.h"
#include "vmm/vm_registry.h"


struct pull_progress {
        int64_t last_ms;
        char last_digest[OCI_DIGEST_LEN + 1];
};

static void mib(uint64_t b, char *buf, size_t size)
{
        snprintf(buf, size, "%.1f MiB", (double)b / (1024.0 * 1024.0));
}

/* Bytes for a person: "512 B", "12.3 KiB", "48.0 MiB". */
static void human(uint64_t b, char *buf, size_t size)
{
        if (b < 1024)
                snprintf(buf, size, "%llu B", (unsigned long long)b);
        else if (b < 1024 * 1024)
                snprintf(buf, size, "%.1f KiB", (double)b / 1024.0);
        else
                mib(b, buf, size);
}

/* At most 2 lines a second, plus each blob's last line, on a terminal or not. */
static void on_progress(void *userdata, const char *digest, uint64_t done, uint64_t total)
{
        struct pull_progress *p = userdata;
        if (cli_progress_quiet())
                return;
        int64_t now = ak_mono_ms();
        bool finished = done == total;
        if (!finished && now - p->last_ms < 500)
                return;
        p->last_ms = now;
        char d[32], t[32];
        human(done, d, sizeof(d));
        human(total, t, sizeof(t));
        fprintf(stderr, "  %.19s: %s / %s%s\n", digest, d, t, finished ? " done" : "");
}

int cli_image_store_dirs(char *ret_store, char *ret_layout, struct ak_error *err)
{
        char home[PATH_MAX];
        int r = vm_registry_ak_home(home, err);
        if (r < 0)
                return r;
        if ((size_t)snprintf(ret_store, PATH_MAX, "%s/images", home) >= PATH_MAX ||
            (size_t)snprintf(ret_layout, PATH_MAX, "%s/images/oci", home) >= PATH_MAX)
                return ak_error_set(err, -ENAMETOOLONG, "AK_HOME too long");
        return 0;
}

/* The image name a reference gets by default: its last path component and
 * tag ("docker.io/library/python:3.12-alpine" -> "python-3.12-alpine",
 * ":latest" left out; a digest-only reference adds 12 hex digits), made a
 * valid image name. */
static int default_name(const char *ref_text, char ret[IMAGE_NAME_MAX + 1])
{
        struct oci_ref ref;
        char raw[OCI_REF_NAME_MAX + OCI_REF_TAG_MAX + 32];
        if (oci_ref_parse(ref_text, strlen(ref_text), &ref, NULL) < 0)
                return -EINVAL;
        const char *base = strrchr(ref.path, '/') ? strrchr(ref.path, '/') + 1 : ref.path;
        if (ref.tag[0] && strcmp(ref.tag, "latest") != 0)
                snprintf(raw, sizeof(raw), "%s-%s", base, ref.tag);
        else if (!ref.tag[0])
                snprintf(raw, sizeof(raw), "%s-%.12s", base, ref.digest + 7);
        else
                snprintf(raw, sizeof(raw), "%s", base);
        return image_name_from(raw, ret);
}

/* image_import of the pulled image, named name. */
static int import_pulled(const char *store_dir, const char *layout, const struct oci_pull_result *res,
                         const char *name, struct image_info *ret, struct ak_error *err)
{
        char src[PATH_MAX + OCI_REF_FORMAT_MAX + 16];
        /* oci-layout:DIR:REF ends DIR at its first ':' (REF may hold more). */
        if (strchr(layout, ':'))
                return ak_error_set(err, -EINVAL, "cannot import from %s: the path holds ':' (set AK_HOME to a "
                                    "path without one)", layout);
        snprintf(src, sizeof(src), "oci-layout:%s:%s", layout, res->ref);
        struct image_store *s = NULL;
        struct cli_progress pr;
        cli_progress_init(&pr);
        struct image_progress ip = { cli_progress_report, &pr };
        int r = image_store_open(store_dir, &s, err);
        if (r == 0)
                r = image_import(s, src, name, &ip, ret, err);
        cli_progress_done(&pr);
        image_store_free(s);
        return r;
}

static int parse_platform(const char *s, char *os, size_t os_size, char *arch, size_t arch_size)
{
        const char *slash = strchr(s, '/');
        if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/') || (size_t)(slash - s) >= os_size ||
            strlen(slash + 1) >= arch_size)
                return -EINVAL;
        snprintf(os, os_size, "%.*s", (int)(slash - s), s);
        snprintf(arch, arch_size, "%s", slash + 1);
        return 0;
}

const struct cli_option cli_registry_options[] = {
        { "authfile", 0, true, 'a' },
        { "ca-file", 0, true, 'c' },
        { "insecure-registry", 0, true, 'i' },
        { NULL, 0, false, 0 },
};

void cli_registry_init(struct cli_registry *r)
{
        *r = (struct cli_registry){ .o = { .insecure = NULL } };
        r->o.insecure = r->insecure;
}

int cli_registry_flag(struct cli_registry *r, const struct cli_opts *p, const char *verb, int id)
{
        switch (id) {
        case 'a':
                r->o.authfile = p->arg;
                return 0;
        case 'c':
                r->o.ca_file = p->arg;
                return 0;
        case 'i':
                if (r->o.n_insecure == CLI_REGISTRY_MAX_INSECURE)
                        return cli_usage_error(p->cmd, "%s: at most %d --insecure-registry", verb,
                                               CLI_REGISTRY_MAX_INSECURE);
                if (!p->arg[0] || strchr(p->arg, '/'))
                        return cli_usage_error(p->cmd, "%s: --insecure-registry takes HOST[:PORT], not '%s'", verb,
                                               p->arg);
                r->insecure[r->o.n_insecure++] = p->arg;
                return 0;
        }
        return -1;
}

static const struct cli_option pull_opts[] = {
        { "platform", 0, true, 'p' },
        { "name", 'n', true, 'n' },
        { "pull-only", 0, false, 'o' },
        { "quiet", 'q', false, 'q' },
        { NULL, 0, false, 0 },
};
const struct cli_option *const cli_image_pull_tables[] = { cli_registry_options, pull_opts, NULL };

int cli_image_pull(const struct cli_command *cmd, int argc, char **argv)
{
        struct cli_registry reg;
        const char *ref = NULL;
        char os[32] = "linux", arch[32] = "amd64", name[IMAGE_NAME_MAX + 1] = "";
        bool pull_only = false;
        struct cli_opts po;
        int c, r;
        cli_registry_init(&reg);
        cli_opts_init(&po, cmd, cli_image_pull_tables, argc, argv);
        while ((c = cli_opts_next(&po)) != CLI_OPT_DONE) {
                switch (c) {
                case CLI_OPT_ERROR:
                        return 2;
                case CLI_OPT_POSITIONAL:
                        if (ref)
                                return cli_usage_error(cmd, "pull takes exactly one REF (also given %s)", po.arg);
                        ref = po.arg;
                        break;
                case 'a':
                case 'c':
                case 'i':
                        if ((r = cli_registry_flag(&reg, &po, "pull", c)) > 0)
                                return r;
                        break;
                case 'p':
                        if (parse_platform(po.arg, os, sizeof(os), arch, sizeof(arch)) < 0)
                                return cli_usage_error(cmd, "pull: --platform takes OS/ARCH (linux/amd64), not '%s'",
                                                       po.arg);
                        break;
                case 'n':
                        if (image_name_check(po.arg) < 0 || strcmp(po.arg, IMAGE_BASE) == 0)
                                return cli_usage_error(cmd, "pull: invalid image name '%s': use a-z, 0-9, '.', '_', "
                                                       "'-' (at most %d), not 'base'", po.arg, IMAGE_NAME_MAX);
                        snprintf(name, sizeof(name), "%s", po.arg);
                        break;
                case 'o':
                        pull_only = true;
                        break;
                case 'q':
                        cli_progress_set_quiet(true);
                        break;
                }
        }
        for (int i = po.dashdash ? cli_opts_index(&po) : argc; i < argc; i++) {
                if (ref)
                        return cli_usage_error(cmd, "pull takes exactly one REF (also given %s)", argv[i]);
                ref = argv[i];
        }
        if (!ref)
                return cli_usage_error(cmd, "pull takes exactly one REF (e.g. python:3.12-alpine)");
        if (pull_only && name[0])
                return cli_usage_error(cmd, "pull: --name names the imported image; --pull-only imports none");
        if (!pull_only && !name[0] && default_name(ref, name) < 0)
                return cli_usage_error(cmd, "pull: no image name can be made from '%s': give --name NAME",
                                       ref);
        struct oci_pull_options o = reg.o;
        o.os = os;
        o.arch = arch;
        struct pull_progress pp = {};
        o.progress = on_progress;
        o.progress_userdata = &pp;

        struct ak_error err = {};
        char store[PATH_MAX], dir[PATH_MAX];
        struct oci_pull_result res;
        r = cli_image_store_dirs(store, dir, &err);
        if (r == 0) {
                if (!cli_progress_quiet())
                        fprintf(stderr, "pulling %s\n", ref);
                r = oci_pull(dir, ref, &o, &res, &err);
        }
        if (r < 0) {
                fprintf(stderr, "ak image pull: %s\n", err.msg);
                return 1;
        }
        char total[32], fetched[32];
        mib(res.total_bytes, total, sizeof(total));
        mib(res.fetched_bytes, fetched, sizeof(fetched));
        fprintf(stderr, "pulled %s: %zu layer%s, %s (%s downloaded, the rest cached) into %s\n", res.ref,
                res.n_layers, res.n_layers == 1 ? "" : "s", total, fetched, dir);
        if (res.index_digest[0])
                fprintf(stderr, "index %s resolved to %s/%s\n", res.index_digest, os, arch);
        if (!pull_only) {
                struct image_info info;
                if (import_pulled(store, dir, &res, name, &info, &err) < 0) {
                        fprintf(stderr, "ak image pull: %s is in the cache %s, but making the image failed: %s\n",
                                res.ref, dir, err.msg);
                        return 1;
                }
                fprintf(stderr, "image %s (%s): ak run --image %s\n", info.name, res.ref, info.name);
        }
        printf("%s\n", res.manifest_digest);
        return 0;
}
