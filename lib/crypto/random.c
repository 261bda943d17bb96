/* Random bytes straight from the kernel (getrandom, blocking until the pool is
 * initialised), which is also where BoringSSL's RAND_bytes draws from.
 *
 * Why not RAND_bytes: BoringSSL keeps per-thread DRBG state under a pthread
 * key. Inside the dlmopen'ed namespace that key comes from a second copy of
 * libc, whose key numbering knows nothing of the main libc's keys, while the
 * per-thread slots are shared. Key 0 of both libcs then name the same slot and
 * at thread exit the main libc runs some other library's destructor on
 * BoringSSL's state (seen here: gtest's DeleteThreadLocalValue crashing). So
 * lib/crypto only calls BoringSSL functions that keep no thread-local state:
 * ED25519_keypair_from_seed, ED25519_sign, ED25519_verify and SHA-256. */
#include <errno.h>
#include <sys/random.h>

#include "lib/crypto/crypto.h"

int crypto_random_bytes(void *buf, size_t len)
{
        uint8_t *p = buf;

        while (len > 0) {
                ssize_t n = getrandom(p, len, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}
