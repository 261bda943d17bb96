/* The /proc/meminfo and /proc/pressure/memory parsers on arbitrary bytes:
 * they never read outside the input, and what they accept is in range. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "services/executor/capacity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct capacity_probe p = { 0 };
        double avg = -1;
        /* An exact-size copy so that ASan catches any read past the end. */
        char *text = malloc(size ? size : 1);
        if (!text)
                return 0;
        for (size_t i = 0; i < size; i++)
                text[i] = (char)data[i];
        if (capacity_parse_meminfo(text, size, &p) == 0) {
                p.has_psi = false;
                struct ak_error err = { 0 };
                (void)capacity_pressure_check(&p, &err);
        }
        if (capacity_parse_psi(text, size, &avg) == 0 && (avg < 0 || avg > 100))
                abort();
        free(text);
        return 0;
}
