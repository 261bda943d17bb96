/* `ak image pull REF`: the OCI distribution client (vmm/image/oci) pulling
 * into the OCI layout cache under the image store, $AK_HOME/images/oci. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/base/time.h"
#include "vmm/image/oci/pull.h"
#include "vmm/vm_registry.h"

#define MAX_INSECURE 16

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

static int layout_dir(char ret[PATH_MAX], struct ak_error *err)
{
        char home[PATH_MAX];
        int r = vm_registry_ak_home(home, err);
        if (r < 0)
                return r;
        if ((size_t)snprintf(ret, PATH_MAX, "%s/images/oci", home) >= PATH_MAX)
                return ak_error_set(err, -ENAMETOOLONG, "AK_HOME too long");
        return 0;
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

int cli_image_pull(const struct cli_command *cmd, int argc, char **argv)
{
        static const struct option longopts[] = {
                { "authfile", required_argument, NULL, 'a' },
                { "ca-file", required_argument, NULL, 'c' },
                { "insecure-registry", required_argument, NULL, 'i' },
                { "platform", required_argument, NULL, 'p' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct oci_pull_options o = {};
        const char *insecure[MAX_INSECURE];
        char os[32] = "linux", arch[32] = "amd64";
        int c;
        optind = 1;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (c) {
                case 'a':
                        o.authfile = optarg;
                        break;
                case 'c':
                        o.ca_file = optarg;
                        break;
                case 'i':
                        if (o.n_insecure == MAX_INSECURE)
                                return cli_usage_error(cmd, "pull: at most %d --insecure-registry", MAX_INSECURE);
                        if (!optarg[0] || strchr(optarg, '/'))
                                return cli_usage_error(cmd, "pull: --insecure-registry takes HOST[:PORT], not '%s'",
                                                       optarg);
                        insecure[o.n_insecure++] = optarg;
                        break;
                case 'p':
                        if (parse_platform(optarg, os, sizeof(os), arch, sizeof(arch)) < 0)
                                return cli_usage_error(cmd, "pull: --platform takes OS/ARCH (linux/amd64), not '%s'",
                                                       optarg);
                        break;
                case 'h':
                        fputs(cmd->help, stdout);
                        return 0;
                default:
                        return cli_usage_error(cmd, "pull: unknown option");
                }
        }
        if (optind + 1 != argc)
                return cli_usage_error(cmd, "pull takes exactly one REF (e.g. python:3.12-alpine)");
        o.insecure = insecure;
        o.os = os;
        o.arch = arch;
        struct pull_progress pp = {};
        o.progress = on_progress;
        o.progress_userdata = &pp;

        struct ak_error err = {};
        char dir[PATH_MAX];
        struct oci_pull_result res;
        int r = layout_dir(dir, &err);
        if (r == 0) {
                fprintf(stderr, "pulling %s\n", argv[optind]);
                r = oci_pull(dir, argv[optind], &o, &res, &err);
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
        fprintf(stderr, "note: not converted into a bootable image: this build has no OCI unpacker yet; the image "
                        "is in the OCI layout %s under the ref name %s\n", dir, res.ref);
        printf("%s\n", res.manifest_digest);
        return 0;
}
