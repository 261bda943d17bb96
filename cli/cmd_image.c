/* `ak image build|list|rm`: guest images in $AK_HOME/images (see
 * vmm/image/image.h): the `base` initramfs and root filesystems
 * built from Debian packages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>
#include <limits.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "cli/progress.h"
#include "lib/json/writer.h"
#include "vmm/image/image.h"
#include "vmm/image/oci/layout.h"
#include "vmm/vm_registry.h"

/* Blobs of the pull cache younger than this stay at prune: a pull stores
 * its blobs before it records the image in index.json. */
#define PRUNE_BLOB_GRACE_S 3600

const char cli_image_help[] =
        "Usage: ak image build NAME [-p|--packages P1,P2,...] [-q|--quiet]\n"
        "       ak image import SOURCE [--name NAME]\n"
        "       ak image pull REF [--name NAME | --pull-only] [--authfile FILE] [--ca-file FILE]\n"
        "                         [--insecure-registry HOST[:PORT]]... [--platform OS/ARCH] [-q]\n"
        "       ak image push SRC DEST [--authfile FILE] [--ca-file FILE] [--insecure-registry HOST[:PORT]]...\n"
        "       ak image list [--json]\n"
        "       ak image rm NAME [--force]\n"
        "       ak image prune [--json]\n"
        "       ak image export-seed [-q] DIR\n"
        "       ak image seed [-q] --from DIR\n"
        "       ak image kernel [BZIMAGE [--builtin FILE] | --debian]\n"
        "\n"
        "build and pull print one progress line per phase on stderr (rewritten in\n"
        "place on a terminal), with the time since they began; -q, --quiet: none.\n"
        "\n"
        "build makes a root filesystem image from Debian bookworm: debootstrap\n"
        "--variant=minbase plus the packages, the guest agent added, packed into ext4\n"
        "(needs root and debootstrap; about a minute). `ak image build base` builds\n"
        "the built-in initramfs image (busybox + guest agent), which `ak vm boot`\n"
        "also builds on first use. Images are cached by a hash of their inputs: the\n"
        "same name, packages and guest agent again is a cache hit. The kernel\n"
        "(Debian's linux-image-cloud-amd64) is downloaded with apt-get on first use.\n"
        "\n"
        "import makes a root filesystem image from an OCI image, offline. SOURCE is\n"
        "  oci-layout:DIR[:TAG]       an OCI image layout directory (what `skopeo copy\n"
        "                             docker://REF oci:DIR:TAG` writes); TAG is its\n"
        "                             ref name or a sha256:... manifest digest, and may\n"
        "                             be left out when the layout holds one image\n"
        "  docker-archive:FILE[:TAG]  a `docker save` tarball (TAG like busybox:1.36)\n"
        "The layers are applied in order (whiteouts, owners, modes, xattrs, links and\n"
        "device nodes kept; every blob and layer checked against its digest; no path\n"
        "may leave the root), the guest agent is added in /usr/local/bin, and the\n"
        "result is packed into ext4 (needs root). NAME defaults to the tag or the\n"
        "layout's directory name. Images are stored once per manifest digest: the same\n"
        "image imported again or under another name is a cache hit. Its Env,\n"
        "WorkingDir and User are recorded (list --json shows them).\n"
        "\n"
        "pull fetches an OCI/Docker image from a registry into the OCI image layout\n"
        "$AK_HOME/images/oci (one blob store for every image: a layer shared by two\n"
        "images is stored once), imports it as above (NAME defaults to the last path\n"
        "component and tag: python-3.12-alpine; --pull-only stops at the cache) and\n"
        "prints its manifest digest. REF is a docker\n"
        "reference: python:3.12-alpine means docker.io/library/python:3.12-alpine;\n"
        "ghcr.io/org/ci:sha, localhost:5000/x@sha256:... and registry:5000/a/b:tag\n"
        "name their registry. An image index is resolved to linux/amd64 (--platform\n"
        "picks another). Every blob is checked against its digest before it is\n"
        "stored; broken downloads are retried and resumed.\n"
        "  --authfile FILE   a docker config.json with credentials (\"auths\": base64\n"
        "                    \"auth\" or \"identitytoken\"); default $DOCKER_CONFIG/config.json\n"
        "                    or ~/.docker/config.json if it exists, else anonymous\n"
        "  --ca-file FILE    trust the registry's TLS certificate from this PEM CA file\n"
        "  --insecure-registry HOST[:PORT]   allow plain http to this registry (loopback\n"
        "                    registries, localhost and 127.0.0.0/8 and ::1, always are)\n"
        "\n"
        "push sends an image of the cache $AK_HOME/images/oci (SRC: the reference it\n"
        "was pulled as) to the registry DEST names: config and layers first (each\n"
        "skipped when the registry has it, the registry checking every digest),\n"
        "the manifest last, so a failed push leaves no tag on a partial image. It\n"
        "prints the manifest digest; options as for pull. A local name as SRC (a\n"
        "snapshot, or any root filesystem image) is packed first as an ak disk image:\n"
        "one zstd layer " "application/vnd.ak.disk.ext4.v1+zstd holding the ext4 disk, its\n"
        "Env/WorkingDir/User in the config; a pull installs it as the disk again.\n"
        "\n"
        "list shows every image (DIGEST: an imported image's manifest digest; SOURCE:\n"
        "where it came from; USED BY: the VMs running from it, a local executor's\n"
        "sandboxes among them); rm removes one (not while a VM or sandbox runs from\n"
        "it, unless --force); prune removes images no name points at and nothing uses,\n"
        "and the blobs of $AK_HOME/images/oci that no image recorded there uses\n"
        "(blobs changed in the last hour stay: a pull may be storing them); with\n"
        "--json it prints {\"images_removed\", \"blobs_removed\", \"blob_bytes\",\n"
        "\"blobs_kept_recent\"} instead of sentences.\n"
        "\n"
        "export-seed writes the guest kernel and the base image (fetched and built\n"
        "first if needed) into DIR with a manifest of their sha256; seed --from DIR\n"
        "installs them into this machine's store, every file checked, so it never\n"
        "needs the Debian archive (ak-executor --image-seed DIR does the same at its\n"
        "start; the executor's container image carries one). For both, -q, --quiet: no\n"
        "progress lines.\n"
        "\n"
        "kernel prints the guest kernel VMs boot; kernel BZIMAGE makes a kernel with\n"
        "everything built in the one they boot: ak's small kernel from Debian's\n"
        "linux-source (`bazel build -c opt //vmm/kernel:guest_kernel`), with the\n"
        "modules.builtin of its build (--builtin FILE; default: beside BZIMAGE). The\n"
        "base image is built again for it on next use; --debian goes back to Debian's\n"
        "cloud kernel, and finds the images it had.\n"
        "\n"
        "Examples:\n"
        "  ak image build python --packages python3\n"
        "  ak image build tools --packages git,curl,ca-certificates\n"
        "  skopeo copy docker://busybox:1.36 oci:/tmp/bb:1.36\n"
        "  ak image import oci-layout:/tmp/bb:1.36 --name busybox\n"
        "  ak image import docker-archive:alpine.tar:alpine:3.19\n"
        "  ak image pull python:3.12-alpine\n"
        "  ak run --image python-3.12-alpine -- python3 -c 'print(6*7)'\n"
        "  ak image pull localhost:5000/ci/tools:1 --authfile ./auth.json\n"
        "  ak image push localhost:5000/ci/tools:1 registry.corp:5000/ci/tools:1\n"
        "  ak image list\n"
        "  ak vm boot py --image python\n"
        "  ak image rm python\n"
        "  ak image export-seed /tmp/seed && ak image seed --from /tmp/seed\n"
        "  ak image kernel bazel-bin/vmm/kernel/bzImage\n";

static const struct cli_command cli_cmd_image = {
        "image", "build, import, list and remove guest images", cli_image_run, cli_image_help,
};

static int open_store(struct image_store **ret, struct ak_error *err)
{
        char home[PATH_MAX], dir[PATH_MAX];
        int r = vm_registry_ak_home(home, err);
        if (r < 0)
                return r;
        if ((size_t)snprintf(dir, sizeof(dir), "%s/images", home) >= sizeof(dir))
                return ak_error_set(err, -ENAMETOOLONG, "AK_HOME too long");
        return image_store_open(dir, ret, err);
}

static void human(uint64_t bytes, char *buf, size_t size)
{
        if (bytes >= (1ull << 30))
                snprintf(buf, size, "%.1fG", bytes / (double)(1ull << 30));
        else if (bytes >= (1ull << 20))
                snprintf(buf, size, "%.1fM", bytes / (double)(1ull << 20));
        else
                snprintf(buf, size, "%lluK", (unsigned long long)(bytes >> 10));
}

static const struct cli_option build_opts[] = {
        { "packages", 'p', true, 'p' },
        { "quiet", 'q', false, 'q' },
        { NULL, 0, false, 0 },
};
static const struct cli_option *const build_tables[] = { build_opts, NULL };

static int cmd_build(int argc, char **argv)
{
        const char *packages = NULL, *name = NULL;
        struct cli_opts po;
        int c;

        cli_opts_init(&po, &cli_cmd_image, build_tables, argc, argv);
        while ((c = cli_opts_next(&po)) != CLI_OPT_DONE) {
                if (c == CLI_OPT_ERROR)
                        return 2;
                if (c == CLI_OPT_POSITIONAL && name)
                        return cli_usage_error(&cli_cmd_image, "build takes exactly one NAME (also given %s)",
                                               po.arg);
                if (c == CLI_OPT_POSITIONAL)
                        name = po.arg;
                else if (c == 'p')
                        packages = po.arg;
                else
                        cli_progress_set_quiet(true);
        }
        for (int i = po.dashdash ? cli_opts_index(&po) : argc; i < argc; i++) {
                if (name)
                        return cli_usage_error(&cli_cmd_image, "build takes exactly one NAME (also given %s)",
                                               argv[i]);
                name = argv[i];
        }
        if (!name)
                return cli_usage_error(&cli_cmd_image, "build takes exactly one NAME");
        if (image_name_check(name) < 0)
                return cli_usage_error(&cli_cmd_image, "invalid image name '%s': use a-z, 0-9, '.', '_', '-' (at most %d)",
                                       name, IMAGE_NAME_MAX);
        const char *list[IMAGE_MAX_PACKAGES + 1];
        size_t n = 0;
        char *copy = packages ? strdup(packages) : NULL;
        if (copy) {
                for (char *save = NULL, *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
                        if (n == IMAGE_MAX_PACKAGES) {
                                free(copy);
                                return cli_usage_error(&cli_cmd_image, "at most %d packages", IMAGE_MAX_PACKAGES);
                        }
                        list[n++] = p;
                }
        }
        if (strcmp(name, IMAGE_BASE) == 0 && n) {
                free(copy);
                return cli_usage_error(&cli_cmd_image, "the base image takes no packages; choose another name");
        }
        struct ak_error err = { 0 };
        struct image_store *s = NULL;
        struct image_info info;
        struct cli_progress pr;
        cli_progress_init(&pr);
        struct image_progress ip = { cli_progress_report, &pr };
        int r = open_store(&s, &err);
        if (r == 0)
                r = strcmp(name, IMAGE_BASE) == 0 ? image_build_base(s, &ip, &info, &err)
                                                  : image_build_rootfs(s, name, list, n, &ip, &info, &err);
        cli_progress_done(&pr);
        image_store_free(s);
        free(copy);
        if (r < 0) {
                fprintf(stderr, "ak image build: %s\n", err.msg);
                return 1;
        }
        char size[16];
        human(info.size_bytes, size, sizeof(size));
        printf("%s %s %.12s %s%s%s\n", info.name, info.kind, info.hash, size, info.packages[0] ? " " : "",
               info.packages);
        return 0;
}

static const struct cli_option import_opts[] = { { "name", 'n', true, 'n' }, { NULL, 0, false, 0 } };
static const struct cli_option *const import_tables[] = { import_opts, NULL };

static int cmd_import(int argc, char **argv)
{
        char name[IMAGE_NAME_MAX + 1] = "";
        const char *src = NULL;
        struct cli_opts po;
        int c;

        cli_opts_init(&po, &cli_cmd_image, import_tables, argc, argv);
        while ((c = cli_opts_next(&po)) != CLI_OPT_DONE) {
                if (c == CLI_OPT_ERROR)
                        return 2;
                if (c == CLI_OPT_POSITIONAL && src)
                        return cli_usage_error(&cli_cmd_image, "import takes exactly one SOURCE (also given %s)",
                                               po.arg);
                if (c == CLI_OPT_POSITIONAL) {
                        src = po.arg;
                        continue;
                }
                if (image_name_check(po.arg) < 0 || strcmp(po.arg, IMAGE_BASE) == 0)
                        return cli_usage_error(&cli_cmd_image,
                                               "invalid image name '%s': use a-z, 0-9, '.', '_', '-' (at most %d), "
                                               "not 'base'", po.arg, IMAGE_NAME_MAX);
                snprintf(name, sizeof(name), "%s", po.arg);
        }
        for (int i = po.dashdash ? cli_opts_index(&po) : argc; i < argc; i++) {
                if (src)
                        return cli_usage_error(&cli_cmd_image, "import takes exactly one SOURCE (also given %s)",
                                               argv[i]);
                src = argv[i];
        }
        if (!src)
                return cli_usage_error(&cli_cmd_image, "import takes exactly one SOURCE");
        if (strncmp(src, "oci-layout:", 11) != 0 && strncmp(src, "docker-archive:", 15) != 0)
                return cli_usage_error(&cli_cmd_image, "import: '%s' is not oci-layout:DIR[:TAG] or "
                                       "docker-archive:FILE[:TAG]", src);
        if (!name[0] && image_import_default_name(src, name) < 0)
                return cli_usage_error(&cli_cmd_image, "import: no image name can be made from '%s': give --name NAME",
                                       src);
        struct ak_error err = { 0 };
        struct image_store *s = NULL;
        struct image_info info;
        struct cli_progress pr;
        cli_progress_init(&pr);
        struct image_progress ip = { cli_progress_report, &pr };
        int r = open_store(&s, &err);
        if (r == 0)
                r = image_import(s, src, name, &ip, &info, &err);
        cli_progress_done(&pr);
        image_store_free(s);
        if (r < 0) {
                fprintf(stderr, "ak image import: %s\n", err.msg);
                return 1;
        }
        char size[16];
        human(info.size_bytes, size, sizeof(size));
        printf("%s %s %s %s\n", info.name, info.digest, size, info.source);
        return 0;
}

static void json_env(struct json_writer *w, const char *env)
{
        json_writer_begin_array(w);
        for (const char *p = env; *p;) {
                const char *e = strchr(p, '\n');
                size_t n = e ? (size_t)(e - p) : strlen(p);
                json_writer_string(w, p, n);
                p += n + (e ? 1 : 0);
        }
        json_writer_end_array(w);
}

static const struct cli_option list_opts[] = { { "json", 0, false, 'j' }, { NULL, 0, false, 0 } };
static const struct cli_option *const list_tables[] = { list_opts, NULL };
static const struct cli_option rm_opts[] = { { "force", 'f', false, 'f' }, { NULL, 0, false, 0 } };
static const struct cli_option *const rm_tables[] = { rm_opts, NULL };

static int cmd_list(int argc, char **argv)
{
        const struct cli_option *const *tables = list_tables;
        bool json = false;
        struct cli_opts p;
        int o;
        cli_opts_init(&p, &cli_cmd_image, tables, argc, argv);
        while ((o = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (o == CLI_OPT_ERROR)
                        return 2;
                if (o == CLI_OPT_POSITIONAL)
                        return cli_usage_error(&cli_cmd_image, "list: unexpected %s", p.arg);
                json = true;
        }
        struct ak_error err = { 0 };
        struct image_store *s = NULL;
        struct image_info *v = NULL;
        size_t n = 0;
        int r = open_store(&s, &err);
        if (r == 0)
                r = image_list(s, &v, &n, &err);
        char (*users)[512] = r == 0 ? calloc(n ? n : 1, sizeof(*users)) : NULL;
        for (size_t i = 0; users && i < n; i++) {
                image_users(s, v[i].hash, users[i], sizeof(users[i]));
                for (char *c = users[i]; *c; c++)
                        if (*c == '\n')
                                *c = ',';
        }
        image_store_free(s);
        if (r == 0 && !users)
                r = ak_error_set(&err, -ENOMEM, "out of memory");
        if (r < 0) {
                fprintf(stderr, "ak image list: %s\n", err.msg);
                free(v);
                return 1;
        }
        if (json) {
                struct json_writer *w = NULL;
                char *out = NULL;
                size_t len;
                json_writer_new(0, 0, &w);
                json_writer_begin_array(w);
                for (size_t i = 0; i < n; i++) {
                        json_writer_begin_object(w);
                        json_writer_key(w, "name", 4);
                        json_writer_string(w, v[i].name, strlen(v[i].name));
                        json_writer_key(w, "kind", 4);
                        json_writer_string(w, v[i].kind, strlen(v[i].kind));
                        json_writer_key(w, "hash", 4);
                        json_writer_string(w, v[i].hash, strlen(v[i].hash));
                        json_writer_key(w, "size_bytes", 10);
                        json_writer_u64(w, v[i].size_bytes);
                        json_writer_key(w, "packages", 8);
                        json_writer_string(w, v[i].packages, strlen(v[i].packages));
                        json_writer_key(w, "created_at", 10);
                        json_writer_i64(w, v[i].created_at);
                        json_writer_key(w, "used_by", 7);
                        json_writer_begin_array(w);
                        for (const char *u = users[i]; *u;) {
                                size_t l = strcspn(u, ",");
                                json_writer_string(w, u, l);
                                u += l + (u[l] ? 1 : 0);
                        }
                        json_writer_end_array(w);
                        if (v[i].digest[0]) {
                                json_writer_key(w, "digest", 6);
                                json_writer_string(w, v[i].digest, strlen(v[i].digest));
                                json_writer_key(w, "source", 6);
                                json_writer_string(w, v[i].source, strlen(v[i].source));
                                json_writer_key(w, "env", 3);
                                json_env(w, v[i].env);
                                json_writer_key(w, "working_dir", 11);
                                json_writer_string(w, v[i].working_dir, strlen(v[i].working_dir));
                                json_writer_key(w, "user", 4);
                                json_writer_string(w, v[i].user, strlen(v[i].user));
                        }
                        json_writer_end_object(w);
                }
                json_writer_end_array(w);
                if (json_writer_finish(w, &out, &len) == 0)
                        printf("%s\n", out);
                free(out);
                json_writer_free(w);
        } else {
                printf("%-20s %-7s %-12s %-19s %8s  %-19s  %-20s  %s\n", "NAME", "KIND", "HASH", "DIGEST", "SIZE",
                       "CREATED", "USED BY", "PACKAGES/SOURCE");
                for (size_t i = 0; i < n; i++) {
                        char size[16], when[32];
                        time_t t = (time_t)v[i].created_at;
                        struct tm tm;
                        human(v[i].size_bytes, size, sizeof(size));
                        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
                        printf("%-20s %-7s %.12s %-19.19s %8s  %-19s  %-20s  %s\n", v[i].name, v[i].kind, v[i].hash,
                               v[i].digest[0] ? v[i].digest : "-", size, when, users[i][0] ? users[i] : "-",
                               v[i].digest[0] ? v[i].source : v[i].packages);
                }
        }
        free(users);
        free(v);
        return 0;
}

/* A running VM booted from hash (its record says so). */
static bool image_in_use(const char *hash, char *vm_name, size_t size)
{
        char root[PATH_MAX];
        if (vm_registry_root(root, NULL) < 0)
                return false;
        DIR *d = opendir(root);
        if (!d)
                return false;
        struct dirent *de;
        bool used = false;
        while (!used && (de = readdir(d))) {
                char dir[PATH_MAX];
                struct vm_record r;
                if (vm_name_check(de->d_name) < 0 || vm_registry_dir(de->d_name, dir, NULL) < 0 ||
                    vm_record_read(dir, &r, NULL) < 0)
                        continue;
                if (strcmp(r.image_hash, hash) == 0 && vm_proc_alive(r.vmm_pid, r.vmm_start)) {
                        snprintf(vm_name, size, "%s", r.name);
                        used = true;
                }
        }
        closedir(d);
        return used;
}

static int cmd_rm(int argc, char **argv)
{
        const char *name = NULL;
        bool force = false;
        const struct cli_option *const *tables = rm_tables;
        struct cli_opts p;
        int o;
        cli_opts_init(&p, &cli_cmd_image, tables, argc, argv);
        while ((o = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (o == CLI_OPT_ERROR)
                        return 2;
                if (o == 'f')
                        force = true;
                else if (!name)
                        name = p.arg;
                else
                        return cli_usage_error(&cli_cmd_image, "rm takes exactly one NAME (and --force)");
        }
        if (!name)
                return cli_usage_error(&cli_cmd_image, "rm takes exactly one NAME (and --force)");
        struct ak_error err = { 0 };
        struct image_store *s = NULL;
        struct image_info info;
        char vm[64];
        int r = open_store(&s, &err);
        if (r == 0 && (r = image_lookup(s, name, &info, &err)) == 0) {
                /* Sandboxes of a local executor (the store is shared) hold
                 * in-use marks; `ak vm` VMs are found by their records. */
                if (!force && image_in_use(info.hash, vm, sizeof(vm)))
                        r = ak_error_set(&err, -EBUSY,
                                         "image %s is in use by VM %s (`ak vm stop %s` first, or --force)", name, vm,
                                         vm);
                else
                        r = image_remove_force(s, name, force, &err);
        }
        image_store_free(s);
        if (r < 0) {
                fprintf(stderr, "ak image rm: %s\n", err.msg);
                return 1;
        }
        printf("removed %s\n", name);
        return 0;
}

enum { PRUNE_JSON = 1, SEED_QUIET };
static const struct cli_option prune_opts[] = { { "json", 0, false, PRUNE_JSON }, { NULL, 0, false, 0 } };
static const struct cli_option *const prune_tables[] = { prune_opts, NULL };

static int cmd_prune(int argc, char **argv)
{
        bool json = false;
        struct cli_opts po;
        int c;
        cli_opts_init(&po, &cli_cmd_image, prune_tables, argc, argv);
        while ((c = cli_opts_next(&po)) != CLI_OPT_DONE) {
                if (c == CLI_OPT_ERROR)
                        return 2;
                if (c == CLI_OPT_POSITIONAL)
                        return cli_usage_error(&cli_cmd_image, "prune: unexpected %s (it takes no arguments)",
                                               po.arg);
                json = true;
        }
        if (po.dashdash && cli_opts_index(&po) < argc)
                return cli_usage_error(&cli_cmd_image, "prune: unexpected %s (it takes no arguments)",
                                       argv[cli_opts_index(&po)]);
        struct ak_error err = { 0 };
        struct image_store *s = NULL;
        size_t n = 0;
        int r = open_store(&s, &err);
        if (r == 0)
                r = image_prune(s, &n, &err);
        image_store_free(s);
        if (r < 0) {
                fprintf(stderr, "ak image prune: %s\n", err.msg);
                return 1;
        }
        if (!json)
                printf("removed %zu unnamed image%s\n", n, n == 1 ? "" : "s");
        /* The pull cache, when there is one (prune does not make it). */
        char home[PATH_MAX], dir[PATH_MAX + 32], marker[PATH_MAX + 64];
        struct oci_layout *l = NULL;
        struct oci_prune_stats st = { 0 };
        if ((r = vm_registry_ak_home(home, &err)) < 0) {
                fprintf(stderr, "ak image prune: %s\n", err.msg);
                return 1;
        }
        snprintf(dir, sizeof(dir), "%s/images/oci", home);
        snprintf(marker, sizeof(marker), "%s/oci-layout", dir);
        bool cache = access(marker, F_OK) == 0;
        if (cache && (r = oci_layout_open(dir, &l, &err)) == 0)
                r = oci_layout_prune(l, PRUNE_BLOB_GRACE_S, &st, &err);
        oci_layout_free(l);
        if (r < 0) {
                fprintf(stderr, "ak image prune: %s\n", err.msg);
                return 1;
        }
        if (json) {
                printf("{\"images_removed\":%zu,\"blobs_removed\":%zu,\"blob_bytes\":%llu,"
                       "\"blobs_kept_recent\":%zu}\n", n, st.removed, (unsigned long long)st.bytes, st.young);
                return 0;
        }
        if (!cache)
                return 0;
        char size[32];
        human(st.bytes, size, sizeof(size));
        printf("removed %zu unused blob%s (%s) from %s", st.removed, st.removed == 1 ? "" : "s", size, dir);
        if (st.young)
                printf("; kept %zu changed within the last hour", st.young);
        printf("\n");
        return 0;
}

/* export-seed DIR | seed --from DIR */
static const struct cli_option seed_opts[] = { { "from", 0, true, 'f' }, { "quiet", 'q', false, SEED_QUIET },
                                               { NULL, 0, false, 0 } };
static const struct cli_option *const seed_tables[] = { seed_opts, NULL };
static const struct cli_option export_opts[] = { { "quiet", 'q', false, SEED_QUIET }, { NULL, 0, false, 0 } };
static const struct cli_option *const export_tables[] = { export_opts, NULL };

/* export-seed DIR, or seed --from DIR. */
static int cmd_seed(int argc, char **argv, bool export)
{
        const char *dir = NULL;
        struct cli_opts po;
        int c, n = 0;
        cli_opts_init(&po, &cli_cmd_image, export ? export_tables : seed_tables, argc, argv);
        while ((c = cli_opts_next(&po)) != CLI_OPT_DONE) {
                if (c == CLI_OPT_ERROR)
                        return 2;
                if (c == SEED_QUIET) {
                        cli_progress_set_quiet(true);
                        continue;
                }
                if (c == CLI_OPT_POSITIONAL)
                        n++;
                if (c == 'f' || (export && c == CLI_OPT_POSITIONAL))
                        dir = po.arg;
        }
        n += po.dashdash ? argc - cli_opts_index(&po) : 0;
        if (export && po.dashdash && cli_opts_index(&po) < argc)
                dir = argv[cli_opts_index(&po)];
        if (n != (export ? 1 : 0))
                dir = NULL;
        if (!dir || !dir[0])
                return cli_usage_error(&cli_cmd_image, export ? "export-seed takes exactly one DIR"
                                                              : "seed takes --from DIR");
        struct ak_error err = { 0 };
        struct image_store *s = NULL;
        struct cli_progress pr;
        cli_progress_init(&pr);
        struct image_progress ip = { cli_progress_report, &pr };
        int r = open_store(&s, &err);
        if (r == 0)
                r = export ? image_seed_export(s, dir, &ip, &err) : image_seed_install(s, dir, &ip, &err);
        cli_progress_done(&pr);
        image_store_free(s);
        if (r < 0) {
                fprintf(stderr, "ak image %s: %s\n", argv[0], err.msg);
                return 1;
        }
        printf(export ? "exported the kernel and base image to %s\n" : "installed the image seed %s\n", dir);
        return 0;
}

int cli_image_run(int argc, char **argv)
{
        if (argc < 2)
                return cli_usage_error(&cli_cmd_image, "missing subcommand: build, import, pull, push, list, rm, prune, export-seed, seed or kernel");
        if (strcmp(argv[1], "build") == 0)
                return cmd_build(argc - 1, argv + 1);
        if (strcmp(argv[1], "import") == 0)
                return cmd_import(argc - 1, argv + 1);
        if (strcmp(argv[1], "pull") == 0)
                return cli_image_pull(&cli_cmd_image, argc - 1, argv + 1);
        if (strcmp(argv[1], "push") == 0)
                return cli_image_push(&cli_cmd_image, argc - 1, argv + 1);
        if (strcmp(argv[1], "list") == 0)
                return cmd_list(argc - 1, argv + 1);
        if (strcmp(argv[1], "rm") == 0)
                return cmd_rm(argc - 1, argv + 1);
        if (strcmp(argv[1], "prune") == 0)
                return cmd_prune(argc - 1, argv + 1);
        if (strcmp(argv[1], "export-seed") == 0)
                return cmd_seed(argc - 1, argv + 1, true);
        if (strcmp(argv[1], "seed") == 0)
                return cmd_seed(argc - 1, argv + 1, false);
        if (strcmp(argv[1], "kernel") == 0)
                return cli_image_kernel(&cli_cmd_image, argc - 1, argv + 1);
        return cli_usage_error(&cli_cmd_image, "unknown subcommand '%s': build, import, pull, push, list, rm, prune, export-seed, seed or kernel", argv[1]);
}


const struct cli_sub cli_image_subs[] = {
        { "build", build_tables },
        { "import", import_tables },
        { "pull", cli_image_pull_tables },
        { "push", cli_image_push_tables },
        { "list", list_tables },
        { "rm", rm_tables },
        { "prune", prune_tables },
        { "export-seed", export_tables },
        { "seed", seed_tables },
        { "kernel", cli_image_kernel_tables },
        { NULL, NULL },
};
