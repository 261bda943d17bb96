/* `ak image push SRC DEST`: an image of the OCI layout cache
 * ($AK_HOME/images/oci) to a registry, through vmm/image/oci's push client. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "vmm/image/oci/push.h"

#define MAX_INSECURE 16

int cli_image_push(const struct cli_command *cmd, int argc, char **argv)
{
        static const struct option longopts[] = {
                { "authfile", required_argument, NULL, 'a' },
                { "ca-file", required_argument, NULL, 'c' },
                { "insecure-registry", required_argument, NULL, 'i' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct oci_pull_options o = {};
        const char *insecure[MAX_INSECURE];
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
                                return cli_usage_error(cmd, "push: at most %d --insecure-registry", MAX_INSECURE);
                        if (!optarg[0] || strchr(optarg, '/'))
                                return cli_usage_error(cmd, "push: --insecure-registry takes HOST[:PORT], not '%s'",
                                                       optarg);
                        insecure[o.n_insecure++] = optarg;
                        break;
                case 'h':
                        fputs(cmd->help, stdout);
                        return 0;
                default:
                        return cli_usage_error(cmd, "push: unknown option");
                }
        }
        if (optind + 2 != argc)
                return cli_usage_error(cmd, "push takes SRC (a pulled reference) and DEST (where to push it)");
        o.insecure = insecure;
        struct ak_error err = {};
        char store[PATH_MAX], dir[PATH_MAX];
        struct oci_push_result res;
        int r = cli_image_store_dirs(store, dir, &err);
        if (r == 0) {
                fprintf(stderr, "pushing %s to %s\n", argv[optind], argv[optind + 1]);
                r = oci_push(dir, argv[optind], argv[optind + 1], &o, &res, &err);
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
