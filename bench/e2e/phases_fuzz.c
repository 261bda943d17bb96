/* e2e_phases_parse on arbitrary bytes: it never reads outside the input,
 * keeps at most E2E_PHASES_MAX series, and every kept one has NUL-ended
 * labels and a sum and count that are numbers >= 0. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/e2e/phases.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct e2e_phases p;
        /* An exact-size copy so that ASan catches any read past the end. */
        char *text = malloc(size ? size : 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        e2e_phases_parse(text, size, "ak_x_phase_seconds", &p);
        if (p.n > E2E_PHASES_MAX)
                abort();
        for (size_t i = 0; i < p.n; i++) {
                if (!memchr(p.v[i].call, 0, sizeof(p.v[i].call)) || !memchr(p.v[i].phase, 0, sizeof(p.v[i].phase)) ||
                    !p.v[i].call[0] || !p.v[i].phase[0])
                        abort();
                if (!(p.v[i].sum >= 0) || !(p.v[i].count >= 0))
                        abort();
                (void)e2e_phases_mean_ms(&p, &p, p.v[i].call, p.v[i].phase);
        }
        free(text);
        return 0;
}
