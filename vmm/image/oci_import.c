/* `ak image import`: an OCI image layout or a `docker save` tarball ->
 * a root filesystem image in the store.
 *   1. plan: index.json -> manifest -> config (every blob verified against
 *      its digest and size), or manifest.json + config of a docker archive;
 *   2. the store key: the manifest digest with the agent's and busybox's
 *      hashes (a cache hit stops here and only names it);
 *   3. layers applied in order into <tmp>/root (oci_layer.c), ak-guest and
 *      busybox added, `mkfs.ext4 -d`, published with one rename.
 * A docker archive is unpacked first into <tmp>/src (a newer docker's
 * archive holding an OCI layout is then read as one). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/pathfmt.h"
#include "lib/base/proc.h"
#include "lib/crypto/crypto.h"
#include "vmm/image/image_disk.h"
#include "vmm/image/image_impl.h"
#include "vmm/image/oci_layer.h"
#include "vmm/image/oci_spec.h"
#include "vmm/image/oci_user.h"

#define IMPORT_FORMAT "ak-oci-v2"
#define DISK_FORMAT "ak-disk-v1"
/* The contents of one image, over all its layers, and its entries. */
#define IMPORT_MAX_BYTES ((uint64_t)64 << 30)
#define IMPORT_MAX_ENTRIES 4000000
#define INDEX_MAX_DEPTH 4

struct plan {
        int dirfd; /* the layout, or the unpacked docker archive */
        char digest[OCI_DIGEST_LEN + 1];
        size_t n_layers;
        char layer_path[OCI_MAX_LAYERS][OCI_PATH_MAX + 1];
        char layer_digest[OCI_MAX_LAYERS][OCI_DIGEST_LEN + 1]; /* "" when unknown (docker archive) */
        uint64_t layer_size[OCI_MAX_LAYERS];
        struct oci_config cfg;
        char user_ids[32];      /* cfg.user resolved in the tree: "UID:GID", "" if it cannot be */
        bool disk;              /* the only layer is an ak disk (disk_format.h): installed, not unpacked */
};

static int read_beneath(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len, struct ak_error *err)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r = oci_open_beneath(dirfd, path, O_RDONLY, &fd);
        if (r == -EXDEV || r == -ELOOP)
                return ak_error_set(err, -EPERM, "%s: a symlink leading outside the image (refused)", path);
        if (r < 0)
                return ak_error_errno(err, r, "open %s", path);
        if (fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "stat %s", path);
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max)
                return ak_error_set(err, -EFBIG, "%s: not a regular file of at most %zu bytes", path, max);
        char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return ak_error_set(err, -ENOMEM, "out of memory");
        size_t len = 0;
        while (len < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        free(buf);
                        return ak_error_errno(err, n < 0 ? -errno : -EIO, "read %s", path);
                }
                len += (size_t)n;
        }
        buf[len] = 0;
        *ret = buf;
        *ret_len = len;
        return 0;
}

static int sha256_digest(const void *data, size_t len, char ret[OCI_DIGEST_LEN + 1], struct ak_error *err)
{
        memcpy(ret, "sha256:", 7);
        int r = crypto_sha256_hex(data, len, ret + 7);
        return r < 0 ? ak_error_set(err, r, "sha256: %s", crypto_init_error_message(r)) : 0;
}

/* A document blob, checked against its descriptor. */
static int read_blob(int dirfd, const struct oci_descriptor *d, char **ret, size_t *ret_len, struct ak_error *err)
{
        char path[128], got[OCI_DIGEST_LEN + 1];
        char *buf;
        size_t len;
        int r;
        if (d->size > OCI_DOC_MAX)
                return ak_error_set(err, -EFBIG, "blob %s: %llu bytes, more than a document may have", d->digest,
                                    (unsigned long long)d->size);
        pathfmt(path, sizeof(path), "blobs/sha256/%s", d->digest + 7);
        if ((r = read_beneath(dirfd, path, OCI_DOC_MAX, &buf, &len, err)) < 0)
                return r;
        if ((r = sha256_digest(buf, len, got, err)) < 0) {
                free(buf);
                return r;
        }
        if (len != d->size || strcmp(got, d->digest) != 0) {
                free(buf);
                return ak_error_set(err, -EBADMSG, "blob %s is %zu bytes with digest %s; its descriptor says %llu "
                                    "bytes (a corrupt layout: copy the image again)", d->digest, len, got,
                                    (unsigned long long)d->size);
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

static int check_config(struct plan *pl, size_t n_layers, struct ak_error *err)
{
        if (strcmp(pl->cfg.os, "linux") != 0 || strcmp(pl->cfg.architecture, "amd64") != 0)
                return ak_error_set(err, -ENOTSUP, "the image is for %s/%s; ak runs linux/amd64 images",
                                    pl->cfg.os, pl->cfg.architecture);
        if (pl->cfg.n_diff_ids != n_layers)
                return ak_error_set(err, -EINVAL, "the manifest has %zu layers but the config %zu diff_ids", n_layers,
                                    pl->cfg.n_diff_ids);
        return 0;
}

static int plan_layout(struct plan *pl, const char *ref, struct ak_error *err)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ struct oci_manifest *m = calloc(1, sizeof(*m));
        struct oci_descriptor d;
        size_t len;
        int r;

        if (!m)
                return ak_error_set(err, -ENOMEM, "out of memory");
        if ((r = read_beneath(pl->dirfd, "oci-layout", 4096, &text, &len, err)) < 0)
                return ak_error_wrap(err, "not an OCI image layout (oci-layout)");
        if (!strstr(text, "\"imageLayoutVersion\""))
                return ak_error_set(err, -EINVAL, "oci-layout: no imageLayoutVersion: not an OCI image layout");
        free(TAKE_PTR(text));
        if ((r = read_beneath(pl->dirfd, "index.json", OCI_DOC_MAX, &text, &len, err)) < 0 ||
            (r = oci_index_find(text, len, ref, &d, err)) < 0)
                return r;
        for (int depth = 0; strcmp(d.media_type, OCI_MT_INDEX) == 0 || strcmp(d.media_type, DOCKER_MT_LIST) == 0;
             depth++) {
                if (depth == INDEX_MAX_DEPTH)
                        return ak_error_set(err, -ELOOP, "image indexes nested deeper than %d", INDEX_MAX_DEPTH);
                free(TAKE_PTR(text));
                if ((r = read_blob(pl->dirfd, &d, &text, &len, err)) < 0 || (r = oci_index_find(text, len, NULL, &d, err)) < 0)
                        return r;
        }
        free(TAKE_PTR(text));
        if ((r = read_blob(pl->dirfd, &d, &text, &len, err)) < 0 || (r = oci_manifest_parse(text, len, m, err)) < 0)
                return r;
        memcpy(pl->digest, d.digest, sizeof(pl->digest));
        free(TAKE_PTR(text));
        if ((r = read_blob(pl->dirfd, &m->config, &text, &len, err)) < 0 ||
            (r = oci_config_parse(text, len, &pl->cfg, err)) < 0 || (r = check_config(pl, m->n_layers, err)) < 0)
                return r;
        pl->n_layers = m->n_layers;
        pl->disk = m->n_layers == 1 && strcmp(m->layers[0].media_type, OCI_MT_AK_DISK) == 0;
        for (size_t i = 0; i < m->n_layers; i++) {
                pathfmt(pl->layer_path[i], sizeof(pl->layer_path[i]), "blobs/sha256/%s", m->layers[i].digest + 7);
                memcpy(pl->layer_digest[i], m->layers[i].digest, sizeof(pl->layer_digest[i]));
                pl->layer_size[i] = m->layers[i].size;
        }
        return 0;
}

static int plan_docker(struct plan *pl, const char *tag, struct ak_error *err)
{
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ struct oci_docker_entry *e = calloc(1, sizeof(*e));
        size_t len;
        int r;

        if (!e)
                return ak_error_set(err, -ENOMEM, "out of memory");
        if ((r = read_beneath(pl->dirfd, "manifest.json", OCI_DOC_MAX, &text, &len, err)) < 0)
                return ak_error_wrap(err, "not a docker archive (manifest.json)");
        if ((r = oci_docker_manifest_parse(text, len, tag, e, err)) < 0)
                return r;
        free(TAKE_PTR(text));
        if ((r = read_beneath(pl->dirfd, e->config, OCI_DOC_MAX, &text, &len, err)) < 0 ||
            (r = sha256_digest(text, len, pl->digest, err)) < 0 || (r = oci_config_parse(text, len, &pl->cfg, err)) < 0 ||
            (r = check_config(pl, e->n_layers, err)) < 0)
                return r;
        pl->n_layers = e->n_layers;
        for (size_t i = 0; i < e->n_layers; i++) {
                memcpy(pl->layer_path[i], e->layers[i], sizeof(pl->layer_path[i]));
                pl->layer_digest[i][0] = 0;
                pl->layer_size[i] = UINT64_MAX;
        }
        return 0;
}

enum source_kind { SRC_LAYOUT, SRC_DOCKER };

/* "oci-layout:DIR[:REF]": as skopeo's oci: and docker-archive: transports,
 * the path ends at the first ':' (REF may hold more, "busybox:1.36"). */
static int parse_source(const char *src, enum source_kind *kind, char *path, size_t size, const char **ref,
                        struct ak_error *err)
{
        const char *rest;
        if (strncmp(src, "oci-layout:", 11) == 0) {
                *kind = SRC_LAYOUT;
                rest = src + 11;
        } else if (strncmp(src, "docker-archive:", 15) == 0) {
                *kind = SRC_DOCKER;
                rest = src + 15;
        } else
                return ak_error_set(err, -EINVAL, "'%s': name the source as oci-layout:DIR[:TAG] or "
                                    "docker-archive:FILE.tar[:TAG]", src);
        const char *colon = strchr(rest, ':');
        size_t n = colon ? (size_t)(colon - rest) : strlen(rest);
        if (n == 0 || n >= size)
                return ak_error_set(err, -EINVAL, "'%s': no path, or a path too long", src);
        memcpy(path, rest, n);
        path[n] = 0;
        *ref = colon && colon[1] ? colon + 1 : NULL;
        return 0;
}

int image_import_default_name(const char *src, char ret[IMAGE_NAME_MAX + 1])
{
        enum source_kind kind;
        char path[PATH_MAX], name[PATH_MAX + 300];
        const char *ref;
        if (parse_source(src, &kind, path, sizeof(path), &ref, NULL) < 0)
                return -EINVAL;
        while (strlen(path) > 1 && path[strlen(path) - 1] == '/')
                path[strlen(path) - 1] = 0;
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        if (kind == SRC_DOCKER) {
                char *dot = strstr(base, ".tar");
                snprintf(name, sizeof(name), "%.*s", dot ? (int)(dot - base) : (int)strlen(base), base);
                if (ref) /* "docker.io/library/busybox:1.36" -> "busybox-1.36" */
                        snprintf(name, sizeof(name), "%s", strrchr(ref, '/') ? strrchr(ref, '/') + 1 : ref);
        } else if (ref && strcmp(ref, "latest") != 0 && strncmp(ref, "sha256:", 7) != 0)
                snprintf(name, sizeof(name), "%s-%s", base, ref);
        else
                snprintf(name, sizeof(name), "%s", base);
        return image_name_from(name, ret);
}

static int apply_layers(struct plan *pl, int rootfd, const struct image_progress *p, struct ak_error *err)
{
        struct oci_layer_budget budget = { .max_bytes = IMPORT_MAX_BYTES, .max_entries = IMPORT_MAX_ENTRIES };
        for (size_t i = 0; i < pl->n_layers; i++) {
                _cleanup_close_ int fd = -1;
                struct stat st;
                int r = oci_open_beneath(pl->dirfd, pl->layer_path[i], O_RDONLY, &fd);
                if (r < 0)
                        return ak_error_errno(err, r == -EXDEV ? -EPERM : r, "layer %zu: open %s", i + 1,
                                              pl->layer_path[i]);
                if (fstat(fd, &st) < 0)
                        return ak_error_errno(err, -errno, "layer %zu: stat", i + 1);
                if (pl->layer_size[i] != UINT64_MAX && (uint64_t)st.st_size != pl->layer_size[i])
                        return ak_error_set(err, -EBADMSG, "layer %zu (%s): blob is %llu bytes, the manifest says %llu "
                                            "(truncated or corrupt: copy the image again)", i + 1, pl->layer_digest[i],
                                            (unsigned long long)st.st_size, (unsigned long long)pl->layer_size[i]);
                image_report(p, "layer", "applying layer %zu/%zu (%llu MiB)", i + 1, pl->n_layers,
                             (unsigned long long)st.st_size >> 20);
                r = oci_layer_apply(rootfd, fd, pl->layer_digest[i][0] ? pl->layer_digest[i] : NULL,
                                    (uint64_t)st.st_size, pl->cfg.diff_ids[i], &budget, err);
                if (r < 0)
                        return ak_error_wrap(err, "layer %zu/%zu (%s)", i + 1, pl->n_layers, pl->layer_path[i]);
        }
        return 0;
}

/* What the guest's setup needs and a FROM scratch or distroless image may
 * lack: mount points (/proc, /sys, /dev, /tmp, /run) and /etc (resolv.conf,
 * the sandbox user). Made only where nothing is; what the image has there,
 * a symlink too, stays. */
static int add_mount_points(int rootfd, struct ak_error *err)
{
        static const struct {
                const char *name;
                mode_t mode;
        } dirs[] = { { "etc", 0755 }, { "tmp", 01777 }, { "proc", 0555 }, { "sys", 0555 },
                     { "dev", 0755 }, { "run", 0755 } };
        struct stat st;
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                if (fstatat(rootfd, dirs[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        continue;
                if (errno != ENOENT)
                        return ak_error_errno(err, -errno, "stat /%s in the image", dirs[i].name);
                if (mkdirat(rootfd, dirs[i].name, 0700) < 0 || fchownat(rootfd, dirs[i].name, 0, 0, 0) < 0 ||
                    fchmodat(rootfd, dirs[i].name, dirs[i].mode, 0) < 0)
                        return ak_error_errno(err, -errno, "create /%s in the image", dirs[i].name);
        }
        return 0;
}

/* The root tree -> <tmp>/rootfs.ext4 with ak-guest and busybox in it. */
static int build_rootfs(struct plan *pl, const char *tmp, const char *guest, const char *busybox,
                        const struct image_progress *p, struct ak_error *err)
{
        char root[PATH_MAX], ext4[PATH_MAX];
        _cleanup_close_ int rootfd = -1;
        int r;
        pathfmt(root, sizeof(root), "%s/root", tmp);
        pathfmt(ext4, sizeof(ext4), "%s/rootfs.ext4", tmp);
        if (mkdir(root, 0755) < 0 || chmod(root, 0755) < 0 ||
            (rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                return ak_error_errno(err, -errno, "create %s", root);
        if ((r = apply_layers(pl, rootfd, p, err)) < 0 || (r = add_mount_points(rootfd, err)) < 0)
                return r;
        /* The User by the image's own passwd/group, as docker resolves it;
         * one that is not there stays unresolved and exec without --sudo
         * says so. */
        if (pl->cfg.user[0] && oci_user_resolve(rootfd, pl->cfg.user, pl->user_ids, NULL) < 0)
                pl->user_ids[0] = 0;
        /* As the debootstrapped images have them: the agent (the initramfs
         * runs its own copy; this one is for chroots and tools) and a static
         * busybox the host configures the guest's network with. */
        if ((r = oci_root_add_file(rootfd, "usr/local/bin/ak-guest", guest, 0755, err)) < 0 ||
            (r = oci_root_add_file(rootfd, "usr/local/bin/busybox", busybox, 0755, err)) < 0)
                return r;
        /* The root as the layers left it (a root entry "/" sets it). */
        struct stat st;
        if (fstat(rootfd, &st) < 0)
                return ak_error_errno(err, -errno, "stat %s", root);
        r = image_mkfs_ext4(root, ext4, p, err);
        ak_rm_rf(root);
        return r < 0 ? r : image_ext4_root_attrs(ext4, st.st_uid, st.st_gid, st.st_mode, err);
}

/* The disk layer -> <tmp>/rootfs.ext4, as it is (image_disk.h). */
static int install_disk(struct plan *pl, const char *tmp, const struct image_progress *p, struct ak_error *err)
{
        char path[PATH_MAX];
        _cleanup_close_ int in = -1, out = -1;
        int r = oci_open_beneath(pl->dirfd, pl->layer_path[0], O_RDONLY, &in);
        if (r < 0)
                return ak_error_errno(err, r == -EXDEV ? -EPERM : r, "disk layer: open %s", pl->layer_path[0]);
        pathfmt(path, sizeof(path), "%s/rootfs.ext4", tmp);
        if ((out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0)
                return ak_error_errno(err, -errno, "create %s", path);
        struct image_disk_expect x = {
                .layer_digest = pl->layer_digest[0], .layer_size = pl->layer_size[0], .diff_id = pl->cfg.diff_ids[0],
                .disk_size = pl->cfg.disk_size, .max_bytes = IMPORT_MAX_BYTES,
        };
        image_report(p, "disk", "installing the disk layer (%llu MiB compressed, %llu MiB disk)",
                     (unsigned long long)pl->layer_size[0] >> 20, (unsigned long long)pl->cfg.disk_size >> 20);
        r = image_disk_install(in, &x, out, NULL, err);
        if (r < 0)
                return ak_error_wrap(err, "disk layer %s", pl->layer_digest[0]);
        /* The User as the packer resolved it in the disk's own passwd. */
        pathfmt(pl->user_ids, sizeof(pl->user_ids), "%s", pl->cfg.user[0] ? pl->cfg.disk_user_ids : "");
        return 0;
}

static int open_source(enum source_kind kind, const char *path, const char *tmp, struct plan *pl, const char *ref,
                       struct ak_error *err)
{
        int r;
        if (kind == SRC_LAYOUT) {
                if ((pl->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                        return ak_error_errno(err, -errno, "open the OCI layout %s", path);
                return plan_layout(pl, ref, err);
        }
        char dir[PATH_MAX];
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open the docker archive %s", path);
        pathfmt(dir, sizeof(dir), "%s/src", tmp);
        if (mkdir(dir, 0700) < 0 || (pl->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                return ak_error_errno(err, -errno, "create %s", dir);
        struct oci_layer_budget budget = { .max_bytes = IMPORT_MAX_BYTES, .max_entries = 100000 };
        if ((r = oci_archive_unpack(pl->dirfd, fd, &budget, err)) < 0)
                return ak_error_wrap(err, "unpack the docker archive %s", path);
        /* docker 25 and later save an OCI layout. */
        if (faccessat(pl->dirfd, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) == 0 &&
            faccessat(pl->dirfd, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) != 0)
                return plan_layout(pl, ref, err);
        return plan_docker(pl, ref, err);
}

static int import_into(struct image_store *s, struct plan *pl, const char *src, const char *tmp, const char *hash,
                       const char *guest, const char *busybox, const struct image_progress *p, struct image_info *info,
                       struct ak_error *err)
{
        char path[PATH_MAX];
        struct stat st;
        int r;
        if ((r = image_check_space(s->dir, err)) < 0 ||
            (r = pl->disk ? install_disk(pl, tmp, p, err) : build_rootfs(pl, tmp, guest, busybox, p, err)) < 0)
                return r;
        pathfmt(path, sizeof(path), "%s/rootfs.ext4", tmp);
        if (stat(path, &st) < 0)
                return ak_error_errno(err, -errno, "stat %s", path);
        memcpy(info->hash, hash, sizeof(info->hash));
        pathfmt(info->kind, sizeof(info->kind), "rootfs");
        memcpy(info->digest, pl->digest, sizeof(pl->digest));
        pathfmt(info->source, sizeof(info->source), "%s", src);
        memcpy(info->env, pl->cfg.env, sizeof(pl->cfg.env) < sizeof(info->env) ? sizeof(pl->cfg.env) : sizeof(info->env));
        info->env[sizeof(info->env) - 1] = 0;
        pathfmt(info->working_dir, sizeof(info->working_dir), "%s", pl->cfg.working_dir);
        pathfmt(info->user, sizeof(info->user), "%s", pl->cfg.user);
        pathfmt(info->user_ids, sizeof(info->user_ids), "%s", pl->user_ids);
        _Static_assert(sizeof(info->command) >= sizeof(pl->cfg.command), "the image's command fits");
        memcpy(info->command, pl->cfg.command, pl->cfg.command_len);
        info->command_len = pl->cfg.command_len;
        info->n_command = pl->cfg.n_command;
        info->size_bytes = (uint64_t)st.st_blocks * 512;
        info->created_at = (int64_t)time(NULL);
        char src_dir[PATH_MAX];
        pathfmt(src_dir, sizeof(src_dir), "%s/src", tmp);
        ak_rm_rf(src_dir);
        if ((r = image_manifest_write(tmp, info, err)) < 0)
                return r;
        return image_publish(s, tmp, hash, err);
}

int image_import(struct image_store *s, const char *src, const char *name, const struct image_progress *p,
                 struct image_info *ret, struct ak_error *err)
{
        enum source_kind kind;
        char path[PATH_MAX], tmp[PATH_MAX] = "", lock[PATH_MAX], busybox[PATH_MAX], text[1024];
        char gh[IMAGE_HASH_LEN + 1], bh[IMAGE_HASH_LEN + 1], hash[IMAGE_HASH_LEN + 1];
        const char *ref, *guest;
        struct image_info info = { 0 };
        struct plan *pl = NULL;
        int lfd = -1, r;

        if (image_key_check(name) < 0 || strcmp(name, IMAGE_BASE) == 0)
                return ak_error_set(err, -EINVAL, "invalid image name '%s': use a-z, 0-9, '.', '_', '-' (at most %d), "
                                    "or an OCI reference; not 'base'", name, IMAGE_NAME_MAX);
        if ((r = parse_source(src, &kind, path, sizeof(path), &ref, err)) < 0)
                return r;
        if (geteuid() != 0)
                return ak_error_set(err, -EPERM, "importing an image needs root (to keep its files' owners and "
                                    "device nodes)");
        if ((r = image_guest_binary(s, &guest, err)) < 0 || (r = image_hash_file(guest, gh, err)) < 0)
                return r;
        if (proc_which("busybox", busybox, sizeof(busybox)) < 0)
                return ak_error_set(err, -ENOENT, "busybox not found: install busybox-static (tools/deps.sh)");
        if ((r = image_hash_file(busybox, bh, err)) < 0)
                return r;
        if (!(pl = calloc(1, sizeof(*pl))))
                return ak_error_set(err, -ENOMEM, "out of memory");
        pl->dirfd = -1;
        if ((r = image_tmpdir(s, tmp, err)) < 0 || (r = open_source(kind, path, tmp, pl, ref, err)) < 0)
                goto out;
        /* A disk is stored as it came: the agent is not part of its key. */
        if (pl->disk)
                pathfmt(text, sizeof(text), DISK_FORMAT "\ndigest=%s\n", pl->digest);
        else
                pathfmt(text, sizeof(text), IMPORT_FORMAT "\ndigest=%s\nguest=%s\nbusybox=%s\n", pl->digest, gh, bh);
        if ((r = image_hash_text(text, hash, err)) < 0)
                goto out;
        pathfmt(lock, sizeof(lock), "%s/%s.lock", s->dir, hash);
        if ((r = image_lock(lock, &lfd, err)) < 0)
                goto out;
        if (image_manifest_read(s, hash, &info, NULL) == 0) {
                image_report(p, "cache", "%s is already stored as image %.12s", pl->digest, hash);
        } else {
                if ((r = import_into(s, pl, src, tmp, hash, guest, busybox, p, &info, err)) < 0)
                        goto out;
                tmp[0] = 0; /* published */
                if ((r = image_manifest_read(s, hash, &info, err)) < 0)
                        goto out;
        }
        if ((r = image_key_set(s, name, hash, err)) < 0)
                goto out;
        if (image_key_is_ref(name))
                image_ref_normalize(name, info.name, NULL);
        else
                pathfmt(info.name, sizeof(info.name), "%s", name);
        *ret = info;
        r = 0;
out:
        if (pl && pl->dirfd >= 0)
                close(pl->dirfd);
        free(pl);
        if (tmp[0])
                ak_rm_rf(tmp);
        if (lfd >= 0) {
                unlink(lock);
                close(lfd);
        }
        if (r < 0)
                ak_error_wrap(err, "import %s", src);
        return r;
}
