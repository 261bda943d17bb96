#include "cli/receipt_local.h"
#include "lib/base/home.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int local_receipt_key_path(char **ret)
{
        char home[PATH_MAX];
        char *p;
        int n = ak_home(home);

        if (n < 0)
                return n;
        n = asprintf(&p, "%s/receipts/" RECEIPT_SIGNING_KEY_FILE, home);
        if (n < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int local_receipt_key(struct crypto_ed25519_key **ret, char **ret_path, char **error)
{
        char *path;
        int r;

        r = local_receipt_key_path(&path);
        if (r < 0) {
                if (error)
                        *error = strdup(r == -ENOENT ? "no home directory: set AK_HOME" : strerror(-r));
                return r;
        }
        r = receipt_load_or_create_signing_key(path, ret, error);
        if (r == 0 && ret_path)
                *ret_path = path;
        else
                free(path);
        return r;
}

int local_receipt_sign(struct receipt *rc, char **error)
{
        struct crypto_ed25519_key *key;
        int r;

        r = local_receipt_key(&key, NULL, error);
        if (r < 0)
                return r;
        r = receipt_finalize(rc, key);
        crypto_ed25519_key_free(key);
        if (r < 0 && error)
                *error = strdup(r == -ENOENT || r == -ELIBBAD ? crypto_init_error_message(r)
                                                              : "Failed to sign receipt payload");
        return r;
}
