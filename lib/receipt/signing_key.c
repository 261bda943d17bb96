/* load_or_create_signing_key, shared with agentkernel's key file. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/fs.h"
#include "lib/base/home.h"
#include "lib/receipt/receipt.h"
#include "lib/receipt/receipt_file.h"
#include "lib/receipt/receipt_internal.h"

#define KEY_FILE_MAX 4096

int receipt_default_signing_key_path(char **ret)
{
        char home[PATH_MAX];
        char *p;
        int r = ak_home(home);

        if (r < 0)
                return r;
        if (asprintf(&p, "%s/receipts/" RECEIPT_SIGNING_KEY_FILE, home) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static int load_key(const char *path, struct crypto_ed25519_key **ret, char **error)
{
        char *der;
        size_t len;
        int r;

        r = receipt_read_private_file(path, KEY_FILE_MAX, &der, &len);
        if (r == -ELOOP)
                return receipt_error(error, r, "Refusing signing key %s: a symbolic link (remove it, or give the "
                                     "key file's own path)", path);
        if (r == -EPERM)
                return receipt_error(error, r, "Refusing signing key %s: owned by another user or writable by group "
                                     "or others, so it could have been planted; check it, then: chown %u %s && "
                                     "chmod 600 %s", path, (unsigned)geteuid(), path, path);
        if (r < 0)
                return receipt_error(error, r, "Failed to read signing key %s: %s", path,
                                     r == -EFBIG ? "file too large" : r == -EINVAL ? "not a regular file" : strerror(-r));
        r = crypto_ed25519_key_from_pkcs8((const uint8_t *)der, len, ret);
        explicit_bzero(der, len);
        free(der);
        if (r == -ENOENT || r == -ELIBBAD)
                return receipt_error(error, r, "%s", crypto_init_error_message(r));
        if (r < 0)
                return receipt_error(error, r, "Invalid Ed25519 signing key at %s", path);
        return 0;
}

int receipt_load_or_create_signing_key(const char *path, struct crypto_ed25519_key **ret, char **error)
{
        uint8_t der[CRYPTO_PKCS8_ED25519_V2_LEN];
        struct crypto_ed25519_key *key;
        struct stat st;
        int r;

        if (lstat(path, &st) == 0)
                return load_key(path, ret, error);
        if (errno != ENOENT)
                return receipt_error(error, -errno, "Failed to read signing key %s: %s", path, strerror(errno));

        r = crypto_ed25519_key_generate(&key);
        if (r < 0)
                return receipt_error(error, r, "Failed to generate Ed25519 signing key: %s",
                                     crypto_init_error_message(r));
        crypto_ed25519_key_to_pkcs8(key, der);
        crypto_ed25519_key_free(key);

        /* Its directory ($AK_HOME/receipts by default): ours and 0700. */
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');
        r = 0;
        if (slash && slash != path) {
                struct ak_error derr = { 0 };
                if (snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path) >= (int)sizeof(dir))
                        return receipt_error(error, -ENAMETOOLONG, "Signing key path too long: %s", path);
                if ((r = ak_private_dir(dir, &derr)) < 0)
                        return receipt_error(error, r, "Failed to create signing key %s: %s", path, derr.msg);
        }
        if (r == 0)
                r = receipt_write_private_file_mode(path, der, sizeof(der), false);
        explicit_bzero(der, sizeof(der));
        if (r < 0 && r != -EEXIST) /* EEXIST: another process won the race; use its key */
                return receipt_error(error, r, "Failed to write signing key %s: %s", path, strerror(-r));
        /* as agentkernel: read back what is on disk */
        return load_key(path, ret, error);
}
