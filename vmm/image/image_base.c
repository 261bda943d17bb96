/* The `base` image: an initramfs with busybox (static), ak-guest as PID 1
 * (rdinit=/sbin/ak-guest), and the kernel modules a microVM needs, loaded in
 * dependency order from /etc/ak/modules (or /etc/ak/modules-net, which adds
 * virtio_net); none for a kernel that has them built in (its
 * modules.builtin lists them, image_kernel_install). If ak-guest is dynamically linked (sanitizer builds), its
 * shared libraries and loader come along. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/pathfmt.h"
#include "lib/base/io.h"
#include "lib/base/proc.h"
#include "lib/base/time.h"
#include "vmm/image/busybox_wget.h"
#include "vmm/image/cpio.h"
#include "vmm/image/image_impl.h"
#include "vmm/image/input_stamp.h"

/* v2: busybox packed with busybox_wget_patch; v3: virtio_balloon. */
#define BASE_FORMAT "ak-base-v3"
#define MAX_MODULES 64
#define MAX_LIBS 32
#define MAX_DIRS 64

static const char *const base_modules[] = { "virtio_mmio", "virtio_blk", "vmw_vsock_virtio_transport",
                                               "virtio_balloon" };
static const char *const net_modules[] = { "virtio_net" };

/* modules.dep, as read. */
struct moddep {
        char *text;
        char **lines;
        size_t n;
};

static void moddep_free(struct moddep *m)
{
        free(m->text);
        free(m->lines);
}

/* modules_dir/file's lines. An empty file is fine (a kernel without
 * loadable modules has an empty modules.dep). */
static int moddep_load(const char *modules_dir, const char *file, struct moddep *ret, struct ak_error *err)
{
        char path[PATH_MAX];
        struct moddep m = { 0 };

        pathfmt(path, sizeof(path), "%s/%s", modules_dir, file);
        FILE *f = fopen(path, "re");
        if (!f)
                return ak_error_errno(err, -errno, "open %s", path);
        size_t cap = 0, len = 0;
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
                if (len + n + 1 > cap) {
                        cap = (len + n + 1) * 2;
                        char *t = realloc(m.text, cap);
                        if (!t) {
                                fclose(f);
                                moddep_free(&m);
                                return ak_error_set(err, -ENOMEM, "out of memory");
                        }
                        m.text = t;
                }
                memcpy(m.text + len, buf, n);
                len += n;
        }
        fclose(f);
        if (!m.text && !(m.text = calloc(1, 1)))
                return ak_error_set(err, -ENOMEM, "out of memory");
        m.text[len] = 0;
        for (char *s = m.text; *s; s++)
                if (*s == '\n')
                        m.n++;
        m.lines = calloc(m.n + 1, sizeof(char *));
        if (!m.lines) {
                moddep_free(&m);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        size_t i = 0;
        for (char *save = NULL, *l = strtok_r(m.text, "\n", &save); l && i <= m.n; l = strtok_r(NULL, "\n", &save))
                m.lines[i++] = l;
        m.n = i;
        *ret = m;
        return 0;
}

/* "kernel/drivers/virtio/virtio_mmio.ko" names "virtio_mmio" ('-' = '_'). */
static bool path_is_module(const char *path, size_t len, const char *name)
{
        const char *base = path;
        for (size_t i = 0; i < len; i++)
                if (path[i] == '/')
                        base = path + i + 1;
        size_t bl = (size_t)(path + len - base);
        size_t nl = strlen(name);
        if (bl != nl + 3 || strncmp(base + nl, ".ko", 3) != 0)
                return false;
        for (size_t i = 0; i < nl; i++) {
                char a = base[i] == '-' ? '_' : base[i], b = name[i] == '-' ? '_' : name[i];
                if (a != b)
                        return false;
        }
        return true;
}

struct modlist {
        char paths[MAX_MODULES][256];   /* relative to modules_dir, load order */
        size_t n;
};

static bool modlist_has(const struct modlist *l, const char *rel, size_t len)
{
        for (size_t i = 0; i < l->n; i++)
                if (strlen(l->paths[i]) == len && strncmp(l->paths[i], rel, len) == 0)
                        return true;
        return false;
}

/* Appends rel's dependencies, then rel (depth-first, each once). */
static int modlist_add(struct modlist *l, const struct moddep *m, const char *rel, size_t rel_len, int depth)
{
        if (depth > 16 || rel_len >= sizeof(l->paths[0]))
                return -ELOOP;
        if (modlist_has(l, rel, rel_len))
                return 0;
        for (size_t i = 0; i < m->n; i++) {
                const char *line = m->lines[i];
                const char *colon = strchr(line, ':');
                if (!colon || (size_t)(colon - line) != rel_len || strncmp(line, rel, rel_len) != 0)
                        continue;
                for (const char *d = colon + 1; *d;) {
                        while (*d == ' ')
                                d++;
                        size_t dl = strcspn(d, " ");
                        if (dl) {
                                int r = modlist_add(l, m, d, dl, depth + 1);
                                if (r < 0)
                                        return r;
                        }
                        d += dl;
                }
                if (l->n == MAX_MODULES)
                        return -E2BIG;
                snprintf(l->paths[l->n++], sizeof(l->paths[0]), "%.*s", (int)rel_len, rel);
                return 0;
        }
        return -ENOENT;
}

/* Whether modules.builtin (its lines, "kernel/<path>.ko") lists name. */
static bool module_is_builtin(const struct moddep *builtin, const char *name)
{
        for (size_t i = 0; i < builtin->n; i++)
                if (path_is_module(builtin->lines[i], strlen(builtin->lines[i]), name))
                        return true;
        return false;
}

/* Adds name and its dependencies; nothing when the kernel has it built in. */
static int modlist_add_name(struct modlist *l, const struct moddep *m, const struct moddep *builtin,
                            const char *name, struct ak_error *err)
{
        for (size_t i = 0; i < m->n; i++) {
                const char *colon = strchr(m->lines[i], ':');
                if (colon && path_is_module(m->lines[i], (size_t)(colon - m->lines[i]), name)) {
                        int r = modlist_add(l, m, m->lines[i], (size_t)(colon - m->lines[i]), 0);
                        if (r < 0)
                                return ak_error_errno(err, r, "kernel module %s (modules.dep)", name);
                        return 0;
                }
        }
        if (module_is_builtin(builtin, name))
                return 0;
        return ak_error_set(err, -ENOENT, "kernel module %s is neither in this kernel's modules.dep nor built in "
                                          "(modules.builtin): build the kernel with it (vmm/kernel/ak-guest.config)",
                            name);
}

/* 1 if path is an ELF executable without an interpreter (static), 0 if
 * dynamic, -errno. */
static int elf_is_static(const char *path)
{
        Elf64_Ehdr eh;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
            eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256)
                return -ENOEXEC;
        for (unsigned i = 0; i < eh.e_phnum; i++) {
                Elf64_Phdr ph;
                if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) != sizeof(ph))
                        return -ENOEXEC;
                if (ph.p_type == PT_INTERP)
                        return 0;
        }
        return 1;
}

struct libs {
        char paths[MAX_LIBS][PATH_MAX];
        size_t n;
};

/* The shared objects (and loader) a dynamic binary needs, from ldd. */
static int find_libs(const char *bin, struct libs *ret, struct ak_error *err)
{
        const char *argv[] = { "ldd", bin, NULL };
        struct proc_opts o = { .argv = argv, .timeout_ms = 30000 };
        char *out = NULL;
        int status;
        int r = proc_run(&o, &status, &out, err);
        if (r < 0)
                return r;
        if (status != 0) {
                r = ak_error_set(err, -EIO, "ldd %s: %s", bin, proc_tail_lines(out, 2));
                free(out);
                return r;
        }
        ret->n = 0;
        for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *arrow = strstr(l, "=> ");
                char *p = arrow ? arrow + 3 : l + strspn(l, " \t");
                if (*p != '/')
                        continue; /* the vDSO */
                size_t len = strcspn(p, " \t(");
                if (ret->n == MAX_LIBS || len >= PATH_MAX) {
                        free(out);
                        return ak_error_set(err, -E2BIG, "ldd %s: too many libraries", bin);
                }
                snprintf(ret->paths[ret->n++], PATH_MAX, "%.*s", (int)len, p);
        }
        free(out);
        return 0;
}

/* Directories already in the archive. */
struct dirset {
        char paths[MAX_DIRS][128];
        size_t n;
};

static void add_parents(struct cpio *w, struct dirset *ds, const char *path)
{
        char buf[128];
        for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
                size_t n = (size_t)(s - path);
                if (n >= sizeof(buf))
                        return;
                memcpy(buf, path, n);
                buf[n] = 0;
                bool have = false;
                for (size_t i = 0; i < ds->n; i++)
                        have |= strcmp(ds->paths[i], buf) == 0;
                if (have)
                        continue;
                if (ds->n < MAX_DIRS)
                        strcpy(ds->paths[ds->n++], buf);
                cpio_add_dir(w, buf, 0755);
        }
}

struct base_inputs {
        struct image_kernel kernel;
        const char *guest;
        char busybox[PATH_MAX];
        struct libs libs;               /* of a dynamic ak-guest */
        struct modlist mods;            /* base modules, load order */
        struct modlist net_mods;        /* base + network */
};

static void write_modules_file(struct cpio *w, const char *path, const struct base_inputs *in,
                               const struct modlist *l)
{
        char text[MAX_MODULES * 300] = "";
        size_t len = 0;
        for (size_t i = 0; i < l->n; i++) {
                const char *base = strrchr(l->paths[i], '/');
                len += (size_t)snprintf(text + len, sizeof(text) - len, "/lib/modules/%s/%s\n", in->kernel.release,
                                        base ? base + 1 : l->paths[i]);
        }
        cpio_add_data(w, path, 0644, text, len);
}

static int write_initramfs(const char *path, const struct base_inputs *in, struct ak_error *err)
{
        static const char *const dirs[] = { "bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys",
                                            "tmp", "etc", "etc/ak", "root", "run", "var", "var/tmp", "mnt",
                                            "newroot", "lib", "lib/modules" };
        static const char etc_passwd[] = "root:x:0:0:root:/root:/bin/sh\n";
        static const char etc_group[] = "root:x:0:\n";
        static const char etc_hosts[] = "127.0.0.1\tlocalhost\n";
        struct dirset ds = { .n = 0 };
        struct cpio *w = NULL;
        char target[PATH_MAX], *applets = NULL;
        _cleanup_free_ char *busybox = NULL;
        size_t busybox_len;
        int status, r;

        if ((r = busybox_read_for_image(in->busybox, &busybox, &busybox_len, err)) < 0)
                return r;

        const char *list[] = { in->busybox, "--list-full", NULL };
        struct proc_opts o = { .argv = list, .timeout_ms = 30000, .max_output = 1 << 20 };
        if ((r = proc_run(&o, &status, &applets, err)) < 0)
                return r;
        if (status != 0) {
                free(applets);
                return ak_error_set(err, -EIO, "%s --list-full failed", in->busybox);
        }
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || cpio_new(fd, &w) < 0) {
                free(applets);
                return ak_error_errno(err, fd < 0 ? -errno : -ENOMEM, "create %s", path);
        }
        for (size_t i = 0; i < AK_ARRAY_SIZE(dirs); i++) {
                cpio_add_dir(w, dirs[i], strcmp(dirs[i], "tmp") == 0 ? 01777 : 0755);
                strcpy(ds.paths[ds.n++], dirs[i]);
        }
        cpio_add_chardev(w, "dev/console", 0600, 5, 1);
        cpio_add_chardev(w, "dev/null", 0666, 1, 3);
        cpio_add_data(w, "bin/busybox", 0755, busybox, busybox_len);
        for (char *save = NULL, *l = strtok_r(applets, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                while (*l == '/')
                        l++;
                if (!*l || strcmp(l, "bin/busybox") == 0 || strstr(l, ".."))
                        continue;
                add_parents(w, &ds, l);
                cpio_add_symlink(w, l, "/bin/busybox");
        }
        free(applets);
        cpio_add_file(w, "sbin/ak-guest", 0755, in->guest);
        for (size_t i = 0; i < in->libs.n; i++) {
                const char *p = in->libs.paths[i] + 1;
                add_parents(w, &ds, p);
                cpio_add_file(w, p, 0755, in->libs.paths[i]);
        }
        pathfmt(target, sizeof(target), "lib/modules/%s", in->kernel.release);
        cpio_add_dir(w, target, 0755);
        for (size_t i = 0; i < in->net_mods.n; i++) {
                char src[PATH_MAX], dst[PATH_MAX];
                const char *base = strrchr(in->net_mods.paths[i], '/');
                if (pathfmt(src, sizeof(src), "%s/%s", in->kernel.modules_dir, in->net_mods.paths[i]) < 0 ||
                    pathfmt(dst, sizeof(dst), "%s/%s", target, base ? base + 1 : in->net_mods.paths[i]) < 0) {
                        cpio_free(w);
                        return ak_error_set(err, -ENAMETOOLONG, "module path too long: %s", in->net_mods.paths[i]);
                }
                cpio_add_file(w, dst, 0644, src);
        }
        write_modules_file(w, "etc/ak/modules", in, &in->mods);
        write_modules_file(w, "etc/ak/modules-net", in, &in->net_mods);
        cpio_add_data(w, "etc/passwd", 0644, etc_passwd, sizeof(etc_passwd) - 1);
        cpio_add_data(w, "etc/group", 0644, etc_group, sizeof(etc_group) - 1);
        cpio_add_data(w, "etc/hosts", 0644, etc_hosts, sizeof(etc_hosts) - 1);
        r = cpio_finish(w);
        cpio_free(w);
        if (r == -ENOSPC)
                return ak_error_errno(err, r, "disk full: write %s", path);
        if (r < 0)
                return ak_error_errno(err, r, "write %s", path);
        if (fsync(fd) < 0)
                return ak_error_errno(err, -errno, "write %s", path);
        return 0;
}

/* The inputs' paths and the kernel: all a stamp check needs. */
static int gather_paths(struct image_store *s, const struct image_progress *p, struct base_inputs *in,
                        struct ak_error *err)
{
        int r;

        if ((r = image_kernel_get(s, p, &in->kernel, err)) < 0)
                return r;
        if ((r = image_guest_binary(s, &in->guest, err)) < 0)
                return r;
        if (proc_which("busybox", in->busybox, sizeof(in->busybox)) < 0)
                return ak_error_set(err, -ENOENT, "busybox not found: install busybox-static (tools/deps.sh)");
        return 0;
}

/* The rest: static or not, a dynamic ak-guest's libraries (ldd), the
 * modules in load order. */
static int gather_rest(struct base_inputs *in, struct ak_error *err)
{
        struct moddep m;
        int r;

        r = elf_is_static(in->busybox);
        if (r == 0)
                return ak_error_set(err, -ENOEXEC, "%s is dynamically linked: install busybox-static", in->busybox);
        if (r < 0)
                return ak_error_errno(err, r, "read %s", in->busybox);
        r = elf_is_static(in->guest);
        if (r < 0)
                return ak_error_errno(err, r, "read %s", in->guest);
        in->libs.n = 0;
        if (r == 0 && (r = find_libs(in->guest, &in->libs, err)) < 0)
                return r;
        if ((r = moddep_load(in->kernel.modules_dir, "modules.dep", &m, err)) < 0)
                return r;
        /* Debian's .deb has no modules.builtin (nothing there is needed from it). */
        struct moddep builtin = { 0 };
        char path[PATH_MAX];
        pathfmt(path, sizeof(path), "%s/modules.builtin", in->kernel.modules_dir);
        if (access(path, F_OK) == 0 && (r = moddep_load(in->kernel.modules_dir, "modules.builtin", &builtin, err)) < 0) {
                moddep_free(&m);
                return r;
        }
        in->mods.n = in->net_mods.n = 0;
        for (size_t i = 0; i < AK_ARRAY_SIZE(base_modules) && r >= 0; i++)
                r = modlist_add_name(&in->mods, &m, &builtin, base_modules[i], err);
        in->net_mods = in->mods;
        for (size_t i = 0; i < AK_ARRAY_SIZE(net_modules) && r >= 0; i++)
                r = modlist_add_name(&in->net_mods, &m, &builtin, net_modules[i], err);
        moddep_free(&m);
        moddep_free(&builtin);
        return r < 0 ? r : 0;
}

/* SHA-256 over everything that goes into the archive. */
static int inputs_hash(const struct base_inputs *in, char ret[IMAGE_HASH_LEN + 1], struct ak_error *err)
{
        char text[8192], h[IMAGE_HASH_LEN + 1];
        size_t len = 0;
        int r;

        len += (size_t)snprintf(text + len, sizeof(text) - len, BASE_FORMAT "\nkernel=%s\n", in->kernel.package);
        if ((r = image_hash_file(in->busybox, h, err)) < 0)
                return r;
        len += (size_t)snprintf(text + len, sizeof(text) - len, "busybox=%s\n", h);
        if ((r = image_hash_file(in->guest, h, err)) < 0)
                return r;
        len += (size_t)snprintf(text + len, sizeof(text) - len, "guest=%s\n", h);
        for (size_t i = 0; i < in->libs.n && len < sizeof(text); i++) {
                if ((r = image_hash_file(in->libs.paths[i], h, err)) < 0)
                        return r;
                len += (size_t)snprintf(text + len, sizeof(text) - len, "lib %s=%s\n", in->libs.paths[i], h);
        }
        if (len >= sizeof(text))
                return ak_error_set(err, -E2BIG, "too many inputs");
        return image_hash_text(text, ret, err);
}

/* The stat stamp of the inputs (input_stamp.h), <store>/stamps/base: a hit
 * costs a few stat(2) calls instead of hashing busybox and ak-guest. */
#define STAMP_FILE "stamps/base"

/* The environment ldd resolves a dynamic ak-guest's libraries in (lengths
 * first, so no two environments give the same text). */
static int env_digest(char ret[IMAGE_HASH_LEN + 1], struct ak_error *err)
{
        const char *lp = getenv("LD_LIBRARY_PATH"), *pre = getenv("LD_PRELOAD");
        _cleanup_free_ char *text = NULL;

        lp = lp ? lp : "";
        pre = pre ? pre : "";
        if (asprintf(&text, "%zu:%s\n%zu:%s\n", strlen(lp), lp, strlen(pre), pre) < 0)
                return ak_error_set(err, -ENOMEM, "out of memory");
        return image_hash_text(text, ret, err);
}

/* 1 with ret_hash when the stamp was written for this kernel, busybox and
 * ak-guest path (and, with a dynamic ak-guest, environment) and every file
 * it names is unchanged (and not racily so); 0 otherwise (none, damaged,
 * any difference): hash in full. */
static int stamp_lookup(struct image_store *s, const struct base_inputs *in, char ret_hash[IMAGE_HASH_LEN + 1])
{
        _cleanup_free_ struct input_stamp *st = malloc(sizeof(*st));
        _cleanup_free_ char *text = NULL;
        const char *lp = getenv("LD_LIBRARY_PATH");
        char path[PATH_MAX], env[IMAGE_HASH_LEN + 1];
        size_t len, busybox = 0, guest = 0, libs = 0;

        if (!st || pathfmt(path, sizeof(path), "%s/" STAMP_FILE, s->dir) < 0 ||
            ak_read_file(path, INPUT_STAMP_MAX_BYTES, &text, &len) < 0 || input_stamp_parse(text, len, st, NULL) < 0)
                return 0;
        if (strcmp(st->format, BASE_FORMAT) != 0 || strcmp(st->kernel, in->kernel.package) != 0)
                return 0;
        for (size_t i = 0; i < st->n_files; i++) {
                const struct input_stamp_file *f = &st->files[i];
                busybox += strcmp(f->role, "busybox") == 0 && strcmp(f->path, in->busybox) == 0;
                guest += strcmp(f->role, "guest") == 0 && strcmp(f->path, in->guest) == 0;
                /* A library search path can gain a file that ldd would pick
                 * without any stamped file changing: ldd again. */
                if (strcmp(f->role, "lib") == 0 && lp && *lp)
                        return 0;
                libs += strcmp(f->role, "lib") == 0;
                if (!input_stamp_file_current(f, st->recorded_ns))
                        return 0;
        }
        if (busybox != 1 || guest != 1)
                return 0;
        /* Only ldd reads the environment: a static ak-guest (the normal
         * build) needs no digest, and so no crypto library loaded. */
        if (libs && (env_digest(env, NULL) < 0 || strcmp(st->env, env) != 0))
                return 0;
        memcpy(ret_hash, st->hash, IMAGE_HASH_LEN + 1);
        return 1;
}

/* Stats every input before it is hashed (so a change while hashing shows
 * when stamp_write stats them again): 0, or -errno when one cannot be
 * stamped (a relative or too long path): then no stamp is written. */
static int stamp_collect(const struct base_inputs *in, const char *env, struct input_stamp *st)
{
        int r;

        memset(st, 0, sizeof(*st));
        if ((size_t)snprintf(st->format, sizeof(st->format), "%s", BASE_FORMAT) >= sizeof(st->format) ||
            (size_t)snprintf(st->kernel, sizeof(st->kernel), "%s", in->kernel.package) >= sizeof(st->kernel))
                return -ENAMETOOLONG;
        memcpy(st->env, env, IMAGE_HASH_LEN + 1);
        st->recorded_ns = ak_clock_ns(CLOCK_REALTIME);
        if ((r = input_stamp_file_stat("busybox", in->busybox, &st->files[st->n_files++])) < 0 ||
            (r = input_stamp_file_stat("guest", in->guest, &st->files[st->n_files++])) < 0)
                return r;
        for (size_t i = 0; i < in->libs.n; i++) {
                if (st->n_files == INPUT_STAMP_MAX_FILES - 1)
                        return -E2BIG;
                if ((r = input_stamp_file_stat("lib", in->libs.paths[i], &st->files[st->n_files++])) < 0)
                        return r;
        }
        /* ldconfig's cache decides which file a library name is. */
        if (in->libs.n && input_stamp_file_stat("dep", "/etc/ld.so.cache", &st->files[st->n_files]) == 0)
                st->n_files++;
        return 0;
}

/* Writes the stamp for hash when no input changed since stamp_collect.
 * Failures only cost the next caller a full hash. */
static void stamp_write(struct image_store *s, const struct input_stamp *st, const char *hash)
{
        _cleanup_free_ struct input_stamp *done = malloc(sizeof(*done));
        _cleanup_free_ char *text = malloc(INPUT_STAMP_MAX_BYTES + 1);
        char path[PATH_MAX];
        int len;

        if (!done || !text)
                return;
        *done = *st;
        memcpy(done->hash, hash, IMAGE_HASH_LEN + 1);
        for (size_t i = 0; i < st->n_files; i++) {
                struct input_stamp_file now;
                const struct input_stamp_file *f = &st->files[i];
                if (input_stamp_file_stat(f->role, f->path, &now) < 0 || now.dev != f->dev || now.ino != f->ino ||
                    now.size != f->size || now.mtime_ns != f->mtime_ns || now.ctime_ns != f->ctime_ns)
                        return;
        }
        if ((len = input_stamp_format(done, text, INPUT_STAMP_MAX_BYTES + 1)) < 0)
                return;
        if (pathfmt(path, sizeof(path), "%s/stamps", s->dir) < 0 || (mkdir(path, 0755) < 0 && errno != EEXIST))
                return;
        pathfmt(path, sizeof(path), "%s/" STAMP_FILE, s->dir);
        image_write_file_atomic(path, text, (size_t)len, NULL);
}

/* The inputs' digest: from the stamp when it holds and its image is in the
 * store (1, with *ret_info), else gathered and hashed in full, writing a
 * new stamp (0). */
static int base_digest(struct image_store *s, const struct image_progress *p, struct base_inputs *in,
                       char ret[IMAGE_HASH_LEN + 1], struct image_info *ret_info, struct ak_error *err)
{
        _cleanup_free_ struct input_stamp *st = NULL;
        char env[IMAGE_HASH_LEN + 1];
        int r;

        if ((r = gather_paths(s, p, in, err)) < 0)
                return r;
        if (stamp_lookup(s, in, ret) == 1 && image_manifest_read(s, ret, ret_info, NULL) == 0)
                return 1;
        if ((r = gather_rest(in, err)) < 0 || (r = env_digest(env, err)) < 0)
                return r;
        st = malloc(sizeof(*st));
        bool stampable = st && stamp_collect(in, env, st) == 0;
        if ((r = inputs_hash(in, ret, err)) < 0)
                return r;
        if (stampable)
                stamp_write(s, st, ret);
        return 0;
}

int image_build_base(struct image_store *s, const struct image_progress *p, struct image_info *ret,
                     struct ak_error *err)
{
        struct base_inputs *in = calloc(1, sizeof(*in));
        struct image_info info = { 0 };
        char hash[IMAGE_HASH_LEN + 1], named[IMAGE_HASH_LEN + 1], lock[PATH_MAX], tmp[PATH_MAX] = "", path[PATH_MAX];
        int lfd = -1, r;
        bool gc_due = true;

        if (!in)
                return ak_error_set(err, -ENOMEM, "out of memory");
        if ((r = base_digest(s, p, in, hash, &info, err)) < 0)
                goto out;
        if (r == 1) {
                gc_due = false;
                goto named;
        }
        if (image_manifest_read(s, hash, &info, NULL) == 0)
                goto named;
        pathfmt(lock, sizeof(lock), "%s/%s.lock", s->dir, hash);
        if ((r = image_lock(lock, &lfd, err)) < 0)
                goto out;
        if (image_manifest_read(s, hash, &info, NULL) == 0) /* built while we waited */
                goto named;
        image_report(p, "initramfs", "building the base initramfs (busybox, ak-guest, %zu modules)",
                     in->net_mods.n);
        if ((r = image_tmpdir(s, tmp, err)) < 0)
                goto out;
        pathfmt(path, sizeof(path), "%s/initrd.cpio", tmp);
        if ((r = write_initramfs(path, in, err)) < 0)
                goto out;
        struct stat st;
        if (stat(path, &st) < 0) {
                r = ak_error_errno(err, -errno, "stat %s", path);
                goto out;
        }
        snprintf(info.name, sizeof(info.name), IMAGE_BASE);
        memcpy(info.hash, hash, sizeof(info.hash));
        snprintf(info.kind, sizeof(info.kind), "base");
        snprintf(info.kernel, sizeof(info.kernel), "%s", in->kernel.package);
        info.size_bytes = (uint64_t)st.st_size;
        info.created_at = (int64_t)time(NULL);
        if ((r = image_manifest_write(tmp, &info, err)) < 0 || (r = image_publish(s, tmp, hash, err)) < 0)
                goto out;
        tmp[0] = 0;
        if ((r = image_manifest_read(s, hash, &info, err)) < 0)
                goto out;
named:
        /* Rewriting an unchanged name would cost an fsync and move names/'s
         * times, which makes every watcher (image_watch_changed) list the
         * store again. */
        if (image_name_get(s, IMAGE_BASE, named) != 0 || strcmp(named, hash) != 0) {
                if ((r = image_name_set(s, IMAGE_BASE, hash, err)) < 0)
                        goto out;
                gc_due = true;
        }
        /* Older base images (an earlier ak-guest) go after a day: looked
         * for when the inputs were hashed or the name moved, not on every
         * stamp hit. */
        if (gc_due)
                image_gc(s, 24 * 3600);
        snprintf(info.name, sizeof(info.name), IMAGE_BASE);
        *ret = info;
        r = 0;
out:
        if (tmp[0])
                ak_rm_rf(tmp);
        if (lfd >= 0)
                close(lfd);
        free(in);
        if (r < 0)
                ak_error_wrap(err, "build the base image");
        return r;
}
