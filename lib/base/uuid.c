#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>

#include "lib/base/time.h"
#include "lib/base/uuid.h"

int ak_uuid7(char ret[AK_UUID_LEN + 1])
{
        uint8_t b[16];
        size_t got = 0;

        while (got < sizeof(b)) {
                ssize_t k = getrandom(b + got, sizeof(b) - got, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t)k;
        }
        uint64_t ms = (uint64_t)ak_real_ms();
        for (int i = 0; i < 6; i++)
                b[i] = (uint8_t)(ms >> (40 - 8 * i));
        b[6] = (uint8_t)(0x70 | (b[6] & 0x0f)); /* version 7 */
        b[8] = (uint8_t)(0x80 | (b[8] & 0x3f)); /* RFC 4122 variant */
        snprintf(ret, AK_UUID_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
                 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
        return 0;
}
