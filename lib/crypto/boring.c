/* dlmopen(LM_ID_NEWLM) keeps BoringSSL's symbols out of the global namespace
 * where gRPC's OpenSSL 3 lives; see crypto.h. The headers are included only
 * to check our function pointer types against the real prototypes. */
#include <dlfcn.h>
#include <errno.h>
#include <openssl/curve25519.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "lib/crypto/boring.h"
#include "lib/crypto/crypto.h"

static struct boring boring_global;
static int boring_global_err;
static pthread_once_t boring_once = PTHREAD_ONCE_INIT;

#define RESOLVE(b, name, ok)                                                                           \
        do {                                                                                           \
                /* compile-time check that our pointer type is the real one */                        \
                __typeof__(&name) _real = NULL;                                                        \
                (void)(1 ? _real : (b)->name);                                                         \
                *(void **)&(b)->name = dlsym((b)->handle, #name);                                      \
                if (!(b)->name)                                                                        \
                        ok = false;                                                                    \
        } while (0)

int boring_open(const char *path, struct boring *ret)
{
        struct boring b = { .sha256_ctx_size = sizeof(SHA256_CTX) };
        bool ok = true;

        b.handle = dlmopen(LM_ID_NEWLM, path, RTLD_NOW | RTLD_LOCAL);
        if (!b.handle)
                return access(path, F_OK) < 0 ? -ENOENT : -ELIBBAD;

        RESOLVE(&b, ED25519_keypair_from_seed, ok);
        RESOLVE(&b, ED25519_sign, ok);
        RESOLVE(&b, ED25519_verify, ok);
        RESOLVE(&b, SHA256_Init, ok);
        RESOLVE(&b, SHA256_Update, ok);
        RESOLVE(&b, SHA256_Final, ok);
        RESOLVE(&b, SHA256, ok);
        if (!ok) {
                dlclose(b.handle);
                return -ELIBBAD;
        }
        *ret = b;
        return 0;
}

void boring_close(struct boring *b)
{
        if (b && b->handle)
                dlclose(b->handle);
}

static void boring_load_once(void)
{
        boring_global_err = boring_open(CRYPTO_BORINGSSL_PATH, &boring_global);
}

const struct boring *boring_get(int *ret_err)
{
        pthread_once(&boring_once, boring_load_once);
        if (boring_global_err < 0) {
                *ret_err = boring_global_err;
                return NULL;
        }
        return &boring_global;
}

int crypto_init(void)
{
        int r = 0;

        return boring_get(&r) ? 0 : r;
}

const char *crypto_init_error_message(int r)
{
        switch (r) {
        case -ENOENT:
                return "BoringSSL not found at " CRYPTO_BORINGSSL_PATH ": install android-libboringssl (tools/deps.sh)";
        case -ELIBBAD:
                return "BoringSSL at " CRYPTO_BORINGSSL_PATH
                       " could not be loaded or lacks Ed25519/SHA-256 symbols: reinstall "
                       "android-libboringssl (tools/deps.sh)";
        default:
                return strerror(r < 0 ? -r : r);
        }
}
