/* The vault's two stores (see vault.h). Every message names a secret or a
 * file, never a byte of a value or of the key. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/home.h"
#include "lib/base/io.h"
#include "lib/base/pathfmt.h"
#include "lib/crypto/crypto.h"
#include "lib/vault/seal.h"
#include "lib/vault/vault.h"

struct vault {
        char dir[PATH_MAX];
        bool mounted;
        bool have_key;
        uint8_t key[SEAL_KEY_LEN];
};

int vault_name_check(const char *name, struct ak_error *err)
{
        size_t n = strlen(name);

        if (n == 0 || n > VAULT_NAME_MAX)
                return ak_error_set(err, -EINVAL, "secret name must be 1 to %d characters (got %zu)",
                                    VAULT_NAME_MAX, n);
        for (size_t i = 0; i < n; i++) {
                char c = name[i];
                bool ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (i > 0 && c >= '0' && c <= '9');
                if (!ok)
                        return ak_error_set(err, -EINVAL,
                                            "secret name '%.*s' is not an environment variable name: use "
                                            "letters, digits and '_', not starting with a digit",
                                            VAULT_NAME_MAX, name);
        }
        return 0;
}

int vault_default_dir(char ret[PATH_MAX])
{
        char home[PATH_MAX];
        int r = ak_home(home);

        if (r < 0)
                return r;
        if (snprintf(ret, PATH_MAX, "%s/secrets", home) >= PATH_MAX)
                return -ENAMETOOLONG;
        return 0;
}

static int vault_new(const char *dir, bool mounted, struct vault **ret, struct ak_error *err)
{
        struct vault *v;

        if (strlen(dir) >= sizeof(v->dir) - VAULT_NAME_MAX - 16)
                return ak_error_set(err, -ENAMETOOLONG, "secrets directory %.200s...: path too long", dir);
        v = calloc(1, sizeof(*v));
        if (!v)
                return ak_error_set(err, -ENOMEM, "secrets directory %s: out of memory", dir);
        strcpy(v->dir, dir);
        v->mounted = mounted;
        *ret = v;
        return 0;
}

int vault_open_sealed(const char *dir, struct vault **ret, struct ak_error *err)
{
        int r = ak_private_dir(dir, err);

        if (r < 0)
                return ak_error_wrap(err, "secrets directory");
        return vault_new(dir, false, ret, err);
}

int vault_open_mounted(const char *dir, struct vault **ret, struct ak_error *err)
{
        struct stat st;

        if (stat(dir, &st) < 0)
                return ak_error_errno(err, -errno, "mounted secrets directory %s (a Kubernetes Secret volume)",
                                      dir);
        if (!S_ISDIR(st.st_mode))
                return ak_error_set(err, -ENOTDIR, "mounted secrets directory %s is not a directory", dir);
        return vault_new(dir, true, ret, err);
}

void vault_free(struct vault *v)
{
        if (!v)
                return;
        explicit_bzero(v->key, sizeof(v->key));
        free(v);
}

void vault_value_free(uint8_t *value, size_t len)
{
        if (!value)
                return;
        explicit_bzero(value, len + 1);
        free(value);
}

/* Reads a whole small file into a fresh buffer (plus a NUL), refusing more
 * than max bytes. The buffer is wiped on every failure. */
static int read_small(int fd, const char *what, size_t max, uint8_t **ret, size_t *ret_len, struct ak_error *err)
{
        struct stat st;
        uint8_t *buf;
        ssize_t n;

        if (fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "%s: stat", what);
        if (!S_ISREG(st.st_mode))
                return ak_error_set(err, -EINVAL, "%s: not a regular file", what);
        if ((size_t)st.st_size > max)
                return ak_error_set(err, -EFBIG, "%s: %lld bytes, more than the %zu allowed", what,
                                    (long long)st.st_size, max);
        buf = malloc(max + 2);
        if (!buf)
                return ak_error_set(err, -ENOMEM, "%s: out of memory", what);
        n = ak_read_full(fd, buf, max + 1);
        if (n < 0 || (size_t)n > max) {
                explicit_bzero(buf, max + 2);
                free(buf);
                if (n < 0)
                        return ak_error_errno(err, (int)n, "%s: read", what);
                return ak_error_set(err, -EFBIG, "%s: grew past the %zu bytes allowed while read", what, max);
        }
        buf[n] = 0;
        *ret = buf;
        *ret_len = (size_t)n;
        return 0;
}

/* Loads DIR/vault.key, or with create makes it (0600, 32 random bytes). */
static int key_load(struct vault *v, bool create, struct ak_error *err)
{
        char path[PATH_MAX], what[PATH_MAX + 64];
        _cleanup_close_ int fd = -1;
        uint8_t *buf = NULL;
        size_t len = 0;
        struct stat st;
        int r;

        if (v->have_key)
                return 0;
        if (pathfmt(path, sizeof(path), "%s/" VAULT_KEY_FILE, v->dir) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "vault key in %.200s...: path too long", v->dir);
        snprintf(what, sizeof(what), "vault key %s", path);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno == ENOENT && create) {
                uint8_t key[SEAL_KEY_LEN];
                fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0 && errno == EEXIST) /* another ak made it meanwhile */
                        return key_load(v, false, err);
                if (fd < 0)
                        return ak_error_errno(err, -errno, "create %s", what);
                r = crypto_random_bytes(key, sizeof(key));
                if (r == 0)
                        r = ak_write_full(fd, key, sizeof(key));
                if (r == 0 && fsync(fd) < 0)
                        r = -errno;
                if (r < 0) {
                        explicit_bzero(key, sizeof(key));
                        unlink(path);
                        return ak_error_errno(err, r, "write %s", what);
                }
                memcpy(v->key, key, sizeof(key));
                explicit_bzero(key, sizeof(key));
                v->have_key = true;
                return 0;
        }
        if (fd < 0 && errno == ENOENT)
                return ak_error_set(err, -ENOENT, "%s is missing: no secret has been set on this machine "
                                    "(ak secret set NAME)", what);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open %s", what);
        if (fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "stat %s", what);
        if (st.st_uid != geteuid() || (st.st_mode & 077))
                return ak_error_set(err, -EACCES, "%s must be owned by uid %u and mode 0600 (it is uid %u, "
                                    "mode %04o): fix it with chown/chmod 600, or remove the directory and "
                                    "set the secrets again", what, (unsigned)geteuid(), (unsigned)st.st_uid,
                                    (unsigned)(st.st_mode & 07777));
        r = read_small(fd, what, SEAL_KEY_LEN, &buf, &len, err);
        if (r < 0)
                return r;
        if (len != SEAL_KEY_LEN) {
                vault_value_free(buf, len);
                return ak_error_set(err, -EBADMSG, "%s holds %zu bytes, not %d: it is damaged", what, len,
                                    SEAL_KEY_LEN);
        }
        memcpy(v->key, buf, SEAL_KEY_LEN);
        vault_value_free(buf, len);
        v->have_key = true;
        return 0;
}

/* NAME.sealed, or (mounted) NAME, in v's directory. vault_new left room for
 * any valid name, so -ENAMETOOLONG does not happen for checked names. */
static int secret_path(const struct vault *v, const char *name, char ret[PATH_MAX], struct ak_error *err)
{
        if (pathfmt(ret, PATH_MAX, "%s/%s%s", v->dir, name, v->mounted ? "" : VAULT_SEALED_SUFFIX) < 0)
                return ak_error_set(err, -ENAMETOOLONG, "secret %s in %.200s...: path too long", name, v->dir);
        return 0;
}

static int check_writable(const struct vault *v, const char *name, const char *verb, struct ak_error *err)
{
        int r = vault_name_check(name, err);

        if (r < 0)
                return r;
        if (v->mounted)
                return ak_error_set(err, -EROFS, "%s secret %s: %s is a mounted Kubernetes Secret, read-only "
                                    "here: change the Secret with kubectl", verb, name, v->dir);
        return 0;
}

int vault_set(struct vault *v, const char *name, const void *value, size_t len, struct ak_error *err)
{
        char path[PATH_MAX], tmp[PATH_MAX + 16];
        _cleanup_close_ int fd = -1;
        uint8_t *sealed;
        int r;

        r = check_writable(v, name, "set", err);
        if (r < 0)
                return r;
        if (len == 0 || len > VAULT_VALUE_MAX)
                return ak_error_set(err, -EINVAL, "set secret %s: the value is %zu bytes; it must be 1 to %d",
                                    name, len, VAULT_VALUE_MAX);
        r = key_load(v, true, err);
        if (r < 0)
                return ak_error_wrap(err, "set secret %s", name);
        sealed = malloc(len + SEAL_OVERHEAD);
        if (!sealed)
                return ak_error_set(err, -ENOMEM, "set secret %s: out of memory", name);
        r = seal_value(v->key, name, value, len, sealed);
        if (r < 0) {
                free(sealed);
                return ak_error_errno(err, r, "set secret %s: seal", name);
        }
        r = secret_path(v, name, path, err);
        if (r < 0) {
                free(sealed);
                return r;
        }
        snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                r = -errno;
        else if ((r = ak_write_full(fd, sealed, len + SEAL_OVERHEAD)) == 0 && fsync(fd) < 0)
                r = -errno;
        free(sealed);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                if (fd >= 0)
                        unlink(tmp);
                return ak_error_errno(err, r, "set secret %s: write %s", name, path);
        }
        return 0;
}

static int get_sealed(struct vault *v, const char *name, uint8_t **ret_value, size_t *ret_len,
                      struct ak_error *err)
{
        char path[PATH_MAX];
        _cleanup_close_ int fd = -1;
        uint8_t *buf = NULL, *out;
        size_t len = 0, out_len = 0;
        int r;

        r = secret_path(v, name, path, err);
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno == ENOENT)
                return ak_error_set(err, -ENOENT, "no secret named %s (ak secret list shows the names)", name);
        if (fd < 0)
                return ak_error_errno(err, -errno, "secret %s: open %s", name, path);
        r = key_load(v, false, err);
        if (r < 0)
                return ak_error_wrap(err, "secret %s", name);
        r = read_small(fd, path, VAULT_VALUE_MAX + SEAL_OVERHEAD, &buf, &len, err);
        if (r < 0)
                return ak_error_wrap(err, "secret %s", name);
        out = malloc(len + 1);
        if (!out) {
                free(buf);
                return ak_error_set(err, -ENOMEM, "secret %s: out of memory", name);
        }
        r = seal_open(v->key, name, buf, len, VAULT_VALUE_MAX, out, &out_len);
        free(buf); /* ciphertext only */
        if (r < 0) {
                free(out);
                return ak_error_set(err, -EBADMSG, "secret %s: %s does not open with this vault's key (damaged, "
                                    "renamed from another secret, or sealed under another %s): set it again",
                                    name, path, VAULT_KEY_FILE);
        }
        out[out_len] = 0;
        *ret_value = out;
        *ret_len = out_len;
        return 0;
}

static int get_mounted(struct vault *v, const char *name, uint8_t **ret_value, size_t *ret_len,
                       struct ak_error *err)
{
        char path[PATH_MAX];
        _cleanup_close_ int fd = -1;
        int r;

        r = secret_path(v, name, path, err);
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_CLOEXEC); /* the kubelet's files are links into ..data */
        if (fd < 0 && errno == ENOENT)
                return ak_error_set(err, -ENOENT, "no secret named %s in the mounted Secret %s", name, v->dir);
        if (fd < 0)
                return ak_error_errno(err, -errno, "secret %s: open %s", name, path);
        uint8_t *value = NULL;
        size_t len = 0;
        r = read_small(fd, path, VAULT_VALUE_MAX, &value, &len, err);
        if (r < 0)
                return ak_error_wrap(err, "secret %s", name);
        if (len == 0) {
                vault_value_free(value, 0);
                return ak_error_set(err, -EINVAL, "secret %s: %s is empty", name, path);
        }
        *ret_value = value;
        *ret_len = len;
        return 0;
}

int vault_get(struct vault *v, const char *name, uint8_t **ret_value, size_t *ret_len, struct ak_error *err)
{
        int r = vault_name_check(name, err);

        if (r < 0)
                return r;
        return v->mounted ? get_mounted(v, name, ret_value, ret_len, err)
                          : get_sealed(v, name, ret_value, ret_len, err);
}

/* A directory entry's secret name: NAME.sealed in a sealed store, NAME in a
 * mounted one (the kubelet's ..data and dot files are not secrets). */
static bool entry_name(const struct vault *v, const char *d_name, char ret[VAULT_NAME_MAX + 1])
{
        size_t n = strlen(d_name), suffix = sizeof(VAULT_SEALED_SUFFIX) - 1;

        if (!v->mounted) {
                if (n <= suffix || strcmp(d_name + n - suffix, VAULT_SEALED_SUFFIX) != 0)
                        return false;
                n -= suffix;
        }
        if (n > VAULT_NAME_MAX)
                return false;
        memcpy(ret, d_name, n);
        ret[n] = 0;
        return vault_name_check(ret, NULL) == 0;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

void vault_names_free(char **names)
{
        if (!names)
                return;
        for (char **p = names; *p; p++)
                free(*p);
        free(names);
}

#define VAULT_LIST_MAX 4096

int vault_list(struct vault *v, char ***ret_names, size_t *ret_n, struct ak_error *err)
{
        char name[VAULT_NAME_MAX + 1], **names;
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        d = opendir(v->dir);
        if (!d)
                return ak_error_errno(err, -errno, "list secrets: open %s", v->dir);
        names = calloc(VAULT_LIST_MAX + 1, sizeof(*names));
        if (!names) {
                closedir(d);
                return ak_error_set(err, -ENOMEM, "list secrets: out of memory");
        }
        while ((de = readdir(d))) {
                if (!entry_name(v, de->d_name, name))
                        continue;
                if (n == VAULT_LIST_MAX) {
                        closedir(d);
                        vault_names_free(names);
                        return ak_error_set(err, -E2BIG, "list secrets: %s holds more than %d secrets", v->dir,
                                            VAULT_LIST_MAX);
                }
                names[n] = strdup(name);
                if (!names[n]) {
                        closedir(d);
                        vault_names_free(names);
                        return ak_error_set(err, -ENOMEM, "list secrets: out of memory");
                }
                n++;
        }
        closedir(d);
        qsort(names, n, sizeof(*names), cmp_names);
        *ret_names = names;
        *ret_n = n;
        return 0;
}

int vault_remove(struct vault *v, const char *name, struct ak_error *err)
{
        char path[PATH_MAX];
        int r = check_writable(v, name, "remove", err);

        if (r < 0)
                return r;
        r = secret_path(v, name, path, err);
        if (r < 0)
                return r;
        if (unlink(path) < 0) {
                if (errno == ENOENT)
                        return ak_error_set(err, -ENOENT, "no secret named %s (ak secret list shows the names)",
                                            name);
                return ak_error_errno(err, -errno, "remove secret %s: unlink %s", name, path);
        }
        return 0;
}
