/* Key records: FILE.d/<key_id>.json, public data about every key held. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/encoding/base64.h"
#include "lib/json/json.h"
#include "lib/json/writer.h"
#include "lib/receipt/receipt.h"
#include "services/signer/keystore_internal.h"

#define KEY(w, k) json_writer_key(w, k, sizeof(k) - 1)

int keystore_record_of(const struct crypto_ed25519_key *key, int64_t created_ms, struct keystore_public_key *ret)
{
        const uint8_t *pub = crypto_ed25519_key_public(key);
        int r;

        memset(ret, 0, sizeof(*ret));
        r = receipt_key_id(pub, ret->key_id);
        if (r < 0)
                return r;
        r = base64_encode(pub, CRYPTO_ED25519_PUBLIC_KEY_LEN, ret->public_key, sizeof(ret->public_key));
        if (r < 0)
                return r;
        ret->created_at_ms = created_ms;
        return 0;
}

int keystore_record_write(const char *dir, const struct keystore_public_key *k, struct ak_error *err)
{
        struct json_writer *w;
        char *path = NULL, *data = NULL;
        size_t len;
        int r;

        r = json_writer_new(0, KEYSTORE_RECORD_MAX, &w);
        if (r < 0)
                return ak_error_errno(err, r, "write key record");
        json_writer_begin_object(w);
        KEY(w, "key_id");
        json_writer_string(w, k->key_id, strlen(k->key_id));
        KEY(w, "algorithm");
        json_writer_string(w, "ed25519", 7);
        KEY(w, "public_key");
        json_writer_string(w, k->public_key, strlen(k->public_key));
        KEY(w, "created_at_ms");
        json_writer_i64(w, k->created_at_ms);
        json_writer_end_object(w);
        r = json_writer_finish(w, &data, &len);
        json_writer_free(w);
        if (r < 0)
                return ak_error_errno(err, r, "write key record");
        if (asprintf(&path, "%s/%s.json", dir, k->key_id) < 0) {
                free(data);
                return ak_error_errno(err, -ENOMEM, "write key record");
        }
        r = receipt_write_private_file(path, data, len);
        if (r < 0)
                ak_error_errno(err, r, "write key record %s", path);
        free(path);
        free(data);
        return r;
}

static bool is_hex16(const char *s, size_t len)
{
        if (len != 16)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* "<16 hex>.json" */
static bool is_record_name(const char *name)
{
        return strlen(name) == 21 && is_hex16(name, 16) && strcmp(name + 16, ".json") == 0;
}

/* "<16 hex>.json.tmp.XXXXXX", what receipt_write_private_file leaves if it dies. */
static bool is_stale_temp(const char *name)
{
        return strlen(name) == 32 && is_hex16(name, 16) && strncmp(name + 16, ".json.tmp.", 10) == 0;
}

static int read_at(int dir_fd, const char *name, char *buf, size_t size, size_t *ret_len)
{
        size_t len = 0;
        int fd, r = 0;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t n = read(fd, buf + len, size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len == size) {
                        r = -EFBIG;
                        break;
                }
        }
        close(fd);
        if (r == 0)
                *ret_len = len;
        return r;
}

static const char *string_member(const struct json_value *obj, const char *key)
{
        const struct json_value *v = json_object_get(obj, key);
        size_t len = 0;
        const char *s;

        if (!v || json_value_type(v) != JSON_STRING)
                return NULL;
        s = json_string(v, &len);
        return strlen(s) == len ? s : NULL;
}

/* Parses and checks one record; returns a reason on failure. */
static const char *parse_record(const char *text, size_t len, const char *name, struct keystore_public_key *ret)
{
        struct json_value *root = NULL;
        const char *id, *alg, *pub, *why = NULL;
        uint8_t raw[CRYPTO_ED25519_PUBLIC_KEY_LEN + 3];
        char expected[17];
        size_t raw_len;
        int64_t created;

        if (json_parse(text, len, &root, NULL) < 0 || json_value_type(root) != JSON_OBJECT) {
                why = "not a JSON object";
                goto out;
        }
        id = string_member(root, "key_id");
        alg = string_member(root, "algorithm");
        pub = string_member(root, "public_key");
        const struct json_value *c = json_object_get(root, "created_at_ms");
        if (!id || !alg || !pub || !c) {
                why = "key_id, algorithm, public_key or created_at_ms missing or not a string";
                goto out;
        }
        if (strcmp(alg, "ed25519") != 0) {
                why = "algorithm is not ed25519";
                goto out;
        }
        if (json_number_i64(c, &created) < 0 || created < 0) {
                why = "created_at_ms is not a non-negative integer";
                goto out;
        }
        if (base64_decode(pub, strlen(pub), raw, sizeof(raw), &raw_len) < 0 ||
            raw_len != CRYPTO_ED25519_PUBLIC_KEY_LEN) {
                why = "public_key is not the base64 of 32 bytes";
                goto out;
        }
        if (receipt_key_id(raw, expected) < 0) {
                why = "cannot compute its key id (BoringSSL missing?)";
                goto out;
        }
        if (strcmp(expected, id) != 0 || strncmp(name, id, 16) != 0) {
                why = "key_id does not match the public key or the file name";
                goto out;
        }
        memset(ret, 0, sizeof(*ret));
        memcpy(ret->key_id, id, 16);
        memcpy(ret->public_key, pub, strlen(pub) + 1);
        ret->created_at_ms = created;
out:
        json_value_free(root);
        return why;
}

int keystore_record_load_all(int dir_fd, const char *dir, struct keystore_public_key **ret, size_t *ret_n,
                             struct ak_error *err)
{
        struct keystore_public_key *keys = NULL;
        char buf[KEYSTORE_RECORD_MAX];
        struct dirent *de;
        size_t n = 0, len = 0;
        DIR *d;
        int fd, r = 0;

        /* fdopendir takes the fd; keep dir_fd (it holds the lock) open. */
        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return ak_error_errno(err, -errno, "open key directory %s", dir);
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return ak_error_errno(err, r, "open key directory %s", dir);
        }
        while ((errno = 0, de = readdir(d))) {
                if (is_stale_temp(de->d_name)) {
                        unlinkat(dir_fd, de->d_name, 0);
                        continue;
                }
                if (!is_record_name(de->d_name))
                        continue;
                if (n == KEYSTORE_MAX_KEYS) {
                        r = ak_error_set(err, -E2BIG, "%s holds more than %d key records", dir, KEYSTORE_MAX_KEYS);
                        break;
                }
                if ((n & (n - 1)) == 0) { /* 0, 1, 2, 4, ...: grow to twice */
                        struct keystore_public_key *grown = realloc(keys, (n ? 2 * n : 1) * sizeof(*keys));
                        if (!grown) {
                                r = ak_error_errno(err, -ENOMEM, "load key records");
                                break;
                        }
                        keys = grown;
                }
                r = read_at(dir_fd, de->d_name, buf, sizeof(buf), &len);
                if (r < 0) {
                        ak_error_errno(err, r, "read key record %s/%s", dir, de->d_name);
                        break;
                }
                const char *why = parse_record(buf, len, de->d_name, &keys[n]);
                if (why) {
                        r = ak_error_set(err, -EINVAL,
                                         "key record %s/%s: %s; restore it from a backup, or remove it if no "
                                         "receipt needs that key",
                                         dir, de->d_name, why);
                        break;
                }
                n++;
        }
        if (r == 0 && errno != 0)
                r = ak_error_errno(err, -errno, "read key directory %s", dir);
        closedir(d);
        if (r < 0) {
                free(keys);
                return r;
        }
        *ret = keys;
        *ret_n = n;
        return 0;
}
