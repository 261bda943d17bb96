/* The key file, the key directory, rotation. See keystore.h for the layout. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "lib/receipt/receipt.h"
#include "services/signer/keystore_internal.h"

#define KEY_FILE_MAX 4096

struct keystore_key {
        atomic_int refs;
        struct crypto_ed25519_key *key;
        char key_id[17];
};

struct keystore {
        char *path;
        char *dir;
        int dir_fd; /* holds the flock */
        pthread_mutex_t lock;
        struct keystore_key *active;
        struct keystore_public_key *keys; /* sorted: active, then newest first */
        size_t n_keys;
};

static char *parent_of(const char *path)
{
        char *copy = strdup(path), *p;

        if (!copy)
                return NULL;
        p = strdup(dirname(copy));
        free(copy);
        return p;
}

/* Someone else who can write to the key's directory can swap the key. */
static int check_parent(const char *path, struct ak_error *err)
{
        char *parent = parent_of(path);
        struct stat st;
        int r = 0;

        if (!parent)
                return ak_error_errno(err, -ENOMEM, "check %s", path);
        if (stat(parent, &st) < 0) {
                r = errno == ENOENT ? 0 : ak_error_errno(err, -errno, "check directory %s", parent);
        } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
                r = ak_error_set(err, -EPERM,
                                 "directory %s of the signing key is writable by group or others (mode %04o), "
                                 "who could replace the key; run: chmod go-w %s",
                                 parent, (unsigned)(st.st_mode & 07777), parent);
        }
        free(parent);
        return r;
}

/* Reads the key file after checking, on the open file, that only its owner
 * may access it. *ret_mtime_ms gets its modification time. */
static int load_key_file(const char *path, struct crypto_ed25519_key **ret, int64_t *ret_mtime_ms,
                         struct ak_error *err)
{
        uint8_t der[KEY_FILE_MAX];
        size_t len = 0;
        struct stat st;
        int fd, r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open signing key %s", path);
        if (fstat(fd, &st) < 0) {
                r = ak_error_errno(err, -errno, "stat signing key %s", path);
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                r = ak_error_set(err, -EINVAL, "signing key %s is not a regular file", path);
                goto out;
        }
        if (st.st_mode & 077) {
                r = ak_error_set(err, -EPERM,
                                 "signing key %s is accessible by group or others (mode %04o); "
                                 "run: chmod 600 %s",
                                 path, (unsigned)(st.st_mode & 07777), path);
                goto out;
        }
        for (;;) {
                ssize_t n = read(fd, der + len, sizeof(der) - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = ak_error_errno(err, -errno, "read signing key %s", path);
                        goto out;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len == sizeof(der)) {
                        r = ak_error_set(err, -EFBIG, "signing key %s is larger than %d bytes: not a PKCS#8 "
                                         "Ed25519 key", path, KEY_FILE_MAX);
                        goto out;
                }
        }
        r = crypto_ed25519_key_from_pkcs8(der, len, ret);
        if (r == -ENOENT || r == -ELIBBAD)
                ak_error_set(err, r, "%s", crypto_init_error_message(r));
        else if (r < 0)
                ak_error_set(err, r, "signing key %s is not an Ed25519 key in PKCS#8 (v1 or v2)", path);
        else
                *ret_mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
out:
        explicit_bzero(der, sizeof(der));
        close(fd);
        return r;
}

/* A crashed rotation can leave FILE.tmp.XXXXXX behind, holding a private key
 * that never became active: remove it. */
static void remove_stale_key_temps(const char *path)
{
        char *parent = parent_of(path), *copy = strdup(path);
        const char *base;
        struct dirent *de;
        size_t blen;
        DIR *d;

        if (!parent || !copy)
                goto out;
        base = basename(copy);
        blen = strlen(base);
        d = opendir(parent);
        if (!d)
                goto out;
        while ((de = readdir(d)))
                if (strlen(de->d_name) == blen + 11 && strncmp(de->d_name, base, blen) == 0 &&
                    strncmp(de->d_name + blen, ".tmp.", 5) == 0)
                        unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
out:
        free(parent);
        free(copy);
}

static int open_dir(struct keystore *ks, struct ak_error *err)
{
        struct stat st;

        if (mkdir(ks->dir, 0700) < 0 && errno != EEXIST)
                return ak_error_errno(err, -errno, "create key directory %s", ks->dir);
        ks->dir_fd = open(ks->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (ks->dir_fd < 0)
                return ak_error_errno(err, -errno, "open key directory %s", ks->dir);
        if (fstat(ks->dir_fd, &st) < 0)
                return ak_error_errno(err, -errno, "stat key directory %s", ks->dir);
        if (st.st_mode & 077)
                return ak_error_set(err, -EPERM,
                                    "key directory %s is accessible by group or others (mode %04o); "
                                    "run: chmod 700 %s",
                                    ks->dir, (unsigned)(st.st_mode & 07777), ks->dir);
        if (flock(ks->dir_fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return ak_error_set(err, -EBUSY,
                                            "another ak-signer is using %s (it holds the lock on %s); stop it "
                                            "first, or rotate its key through its RotateKey RPC",
                                            ks->path, ks->dir);
                return ak_error_errno(err, -errno, "lock key directory %s", ks->dir);
        }
        return 0;
}

static int compare_keys(const void *a, const void *b)
{
        const struct keystore_public_key *x = a, *y = b;

        if (x->active != y->active)
                return x->active ? -1 : 1;
        if (x->created_at_ms != y->created_at_ms)
                return x->created_at_ms > y->created_at_ms ? -1 : 1;
        return strcmp(x->key_id, y->key_id);
}

static struct keystore_key *key_new(struct crypto_ed25519_key *key, const char *key_id)
{
        struct keystore_key *k = calloc(1, sizeof(*k));

        if (!k)
                return NULL;
        atomic_init(&k->refs, 1);
        k->key = key;
        memcpy(k->key_id, key_id, sizeof(k->key_id));
        return k;
}

/* Makes sure the active key has a record and is marked active. */
static int adopt_active(struct keystore *ks, int64_t mtime_ms, struct ak_error *err)
{
        struct keystore_public_key rec;
        int r;

        for (size_t i = 0; i < ks->n_keys; i++)
                if (strcmp(ks->keys[i].key_id, ks->active->key_id) == 0) {
                        ks->keys[i].active = true;
                        return 0;
                }
        if (ks->n_keys == KEYSTORE_MAX_KEYS)
                return ak_error_set(err, -E2BIG, "%s holds %d key records, the most one signer lists", ks->dir,
                                    KEYSTORE_MAX_KEYS);
        r = keystore_record_of(ks->active->key, mtime_ms, &rec);
        if (r < 0)
                return ak_error_errno(err, r, "key record");
        r = keystore_record_write(ks->dir, &rec, err);
        if (r < 0)
                return r;
        struct keystore_public_key *grown = realloc(ks->keys, (ks->n_keys + 1) * sizeof(*grown));
        if (!grown)
                return ak_error_errno(err, -ENOMEM, "key list");
        ks->keys = grown;
        rec.active = true;
        ks->keys[ks->n_keys++] = rec;
        return 0;
}

int keystore_open(const char *key_path, struct keystore **ret, struct ak_error *err)
{
        struct crypto_ed25519_key *key = NULL;
        struct keystore *ks;
        char key_id[17];
        int64_t mtime_ms;
        struct stat st;
        int r;

        if (!key_path || !*key_path)
                return ak_error_set(err, -EINVAL, "no signing key path given");
        ks = calloc(1, sizeof(*ks));
        if (!ks)
                return ak_error_errno(err, -ENOMEM, "open keystore");
        ks->dir_fd = -1;
        pthread_mutex_init(&ks->lock, NULL);
        ks->path = strdup(key_path);
        if (!ks->path || asprintf(&ks->dir, "%s.d", key_path) < 0) {
                ks->dir = NULL;
                r = ak_error_errno(err, -ENOMEM, "open keystore");
                goto fail;
        }
        r = check_parent(ks->path, err);
        if (r < 0)
                goto fail;
        if (stat(ks->path, &st) < 0 && errno == ENOENT) {
                char *msg = NULL;
                r = receipt_load_or_create_signing_key(ks->path, &key, &msg);
                if (r < 0) {
                        ak_error_set(err, r, "%s", msg ? msg : "create signing key");
                        free(msg);
                        goto fail;
                }
                crypto_ed25519_key_free(key); /* loaded again below, with its checks */
                key = NULL;
        }
        r = load_key_file(ks->path, &key, &mtime_ms, err);
        if (r < 0)
                goto fail;
        r = receipt_key_id(crypto_ed25519_key_public(key), key_id);
        if (r < 0) {
                ak_error_errno(err, r, "key id");
                goto fail;
        }
        ks->active = key_new(key, key_id);
        if (!ks->active) {
                r = ak_error_errno(err, -ENOMEM, "open keystore");
                goto fail;
        }
        key = NULL;
        r = open_dir(ks, err);
        if (r < 0)
                goto fail;
        remove_stale_key_temps(ks->path);
        r = keystore_record_load_all(ks->dir_fd, ks->dir, &ks->keys, &ks->n_keys, err);
        if (r < 0)
                goto fail;
        r = adopt_active(ks, mtime_ms, err);
        if (r < 0)
                goto fail;
        qsort(ks->keys, ks->n_keys, sizeof(*ks->keys), compare_keys);
        *ret = ks;
        return 0;
fail:
        crypto_ed25519_key_free(key);
        keystore_free(ks);
        return r;
}

void keystore_free(struct keystore *ks)
{
        if (!ks)
                return;
        keystore_key_unref(ks->active);
        if (ks->dir_fd >= 0)
                close(ks->dir_fd); /* drops the lock */
        pthread_mutex_destroy(&ks->lock);
        free(ks->keys);
        free(ks->path);
        free(ks->dir);
        free(ks);
}

static bool has_key_id(const struct keystore *ks, const char *key_id)
{
        for (size_t i = 0; i < ks->n_keys; i++)
                if (strcmp(ks->keys[i].key_id, key_id) == 0)
                        return true;
        return false;
}

/* Called with ks->lock held. */
static int rotate_locked(struct keystore *ks, struct keystore_public_key *ret_new, struct ak_error *err)
{
        uint8_t der[CRYPTO_PKCS8_ED25519_V2_LEN];
        struct crypto_ed25519_key *key = NULL;
        struct keystore_public_key rec;
        struct keystore_key *k;
        int64_t created = ak_real_ms();
        int r;

        if (ks->n_keys >= KEYSTORE_MAX_KEYS)
                return ak_error_set(err, -E2BIG, "%s already lists %d keys, the most one signer keeps", ks->dir,
                                    KEYSTORE_MAX_KEYS);
        /* Newest first must hold even if the clock went back. */
        for (size_t i = 0; i < ks->n_keys; i++)
                if (ks->keys[i].created_at_ms >= created)
                        created = ks->keys[i].created_at_ms + 1;
        /* A 64-bit key id collision is not going to happen; never reuse one anyway. */
        for (int attempt = 0;; attempt++) {
                r = crypto_ed25519_key_generate(&key);
                if (r < 0)
                        return ak_error_set(err, r, "generate key: %s", crypto_init_error_message(r));
                r = keystore_record_of(key, created, &rec);
                if (r < 0) {
                        crypto_ed25519_key_free(key);
                        return ak_error_errno(err, r, "key record");
                }
                if (!has_key_id(ks, rec.key_id))
                        break;
                crypto_ed25519_key_free(key);
                if (attempt == 3)
                        return ak_error_set(err, -EEXIST, "generated key ids keep colliding");
        }
        k = key_new(key, rec.key_id);
        struct keystore_public_key *grown = realloc(ks->keys, (ks->n_keys + 1) * sizeof(*grown));
        if (!k || !grown) {
                if (grown)
                        ks->keys = grown;
                if (k)
                        keystore_key_unref(k);
                else
                        crypto_ed25519_key_free(key);
                return ak_error_errno(err, -ENOMEM, "rotate key");
        }
        ks->keys = grown;

        crypto_ed25519_key_to_pkcs8(key, der);
        r = receipt_write_private_file(ks->path, der, sizeof(der));
        explicit_bzero(der, sizeof(der));
        if (r < 0) {
                keystore_key_unref(k);
                return ak_error_errno(err, r, "write new signing key %s", ks->path);
        }
        /* From here the new key is the one on disk: follow it even if its
         * record cannot be written (open rebuilds a missing record). */
        keystore_key_unref(ks->active);
        ks->active = k;
        for (size_t i = 0; i < ks->n_keys; i++)
                ks->keys[i].active = false;
        rec.active = true;
        ks->keys[ks->n_keys++] = rec;
        qsort(ks->keys, ks->n_keys, sizeof(*ks->keys), compare_keys);
        r = keystore_record_write(ks->dir, &rec, err);
        if (r < 0)
                return ak_error_wrap(err, "now signing with key %s, but its record is not saved yet "
                                     "(the next start writes it)", rec.key_id);
        if (ret_new)
                *ret_new = rec;
        return 0;
}

int keystore_rotate(struct keystore *ks, struct keystore_public_key *ret_new, struct ak_error *err)
{
        int r;

        pthread_mutex_lock(&ks->lock);
        r = rotate_locked(ks, ret_new, err);
        pthread_mutex_unlock(&ks->lock);
        return r;
}

int keystore_list(struct keystore *ks, struct keystore_public_key **ret, size_t *ret_n)
{
        struct keystore_public_key *copy;
        size_t n;

        pthread_mutex_lock(&ks->lock);
        n = ks->n_keys;
        copy = malloc((n ? n : 1) * sizeof(*copy));
        if (copy)
                memcpy(copy, ks->keys, n * sizeof(*copy));
        pthread_mutex_unlock(&ks->lock);
        if (!copy)
                return -ENOMEM;
        *ret = copy;
        *ret_n = n;
        return 0;
}

struct keystore_key *keystore_active(struct keystore *ks)
{
        struct keystore_key *k;

        pthread_mutex_lock(&ks->lock);
        k = ks->active;
        atomic_fetch_add(&k->refs, 1);
        pthread_mutex_unlock(&ks->lock);
        return k;
}

void keystore_key_unref(struct keystore_key *k)
{
        if (!k || atomic_fetch_sub(&k->refs, 1) != 1)
                return;
        crypto_ed25519_key_free(k->key);
        free(k);
}

const struct crypto_ed25519_key *keystore_key_crypto(const struct keystore_key *k)
{
        return k->key;
}

const char *keystore_key_id(const struct keystore_key *k)
{
        return k->key_id;
}

const char *keystore_path(const struct keystore *ks)
{
        return ks->path;
}

const char *keystore_dir(const struct keystore *ks)
{
        return ks->dir;
}
