/* Label values come from outside the process (image references, audit
 * destination names, methods): any bytes rendered must stay one sample per
 * line, with quotes, backslashes and newlines escaped, and valid UTF-8.
 * The input splits at NULs into up to four label values; the rendered text
 * is then checked line by line. Also feeds the --metrics-listen parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/base/utf8.h"
#include "lib/metrics/http.h"
#include "lib/metrics/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *text, size_t len)
{
        if (strlen(text) != len || !utf8_valid(text, len))
                abort();
        for (const char *line = text; *line;) {
                const char *nl = strchr(line, '\n');
                if (!nl)
                        abort(); /* every line ends in a newline */
                if (*line != '#') {
                        /* name{...} value: quotes balance outside escapes. */
                        int quoted = 0;
                        for (const char *p = line; p < nl; p++) {
                                if (quoted && *p == '\\') {
                                        p++;
                                        if (*p != '\\' && *p != '"' && *p != 'n')
                                                abort();
                                } else if (*p == '"') {
                                        quoted = !quoted;
                                }
                        }
                        if (quoted)
                                abort();
                }
                line = nl + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *copy = malloc(size + 1);
        if (!copy)
                return 0;
        memcpy(copy, data, size);
        copy[size] = 0;

        struct sockaddr_storage sa;
        struct ak_error err;
        metrics_parse_listen(copy, &sa, &err);

        const char *values[4] = { "", "", "", "" };
        size_t n = 0;
        for (size_t i = 0, start = 0; i <= size && n < 4; i++)
                if (i == size || copy[i] == 0) {
                        values[n++] = copy + start;
                        start = i + 1;
                }

        struct metrics_registry *reg;
        if (metrics_registry_new(&reg) < 0) {
                free(copy);
                return 0;
        }
        static const char *const labels[] = { "a", "b", "c", "d" };
        static const double b[] = { 0.5, 1 };
        struct metric_def g = { "ak_fuzz_gauge", values[0], METRIC_GAUGE, labels, 4 };
        struct metric_def h = { "ak_fuzz_seconds", values[1], METRIC_HISTOGRAM, labels, 3, b, 2 };
        struct metric_family *fg = NULL, *fh = NULL;
        metrics_register(reg, &g, &fg, NULL);
        metrics_register(reg, &h, &fh, NULL);
        metrics_set(metrics_series(fg, values), (double)size);
        metrics_observe(metrics_series(fh, values), 0.7);
        char *text;
        size_t len;
        if (metrics_render(reg, &text, &len) == 0) {
                check(text, len);
                free(text);
        }
        metrics_registry_free(reg);
        free(copy);
        return 0;
}
