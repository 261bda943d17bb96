/* Per-phase means from the services' /metrics (phases.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench/e2e/phases.h"
#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "lib/base/parse.h"

#define SCRAPE_TIMEOUT_S 5

/* label="value" at *p (p < end) into out; advances *p past it. */
static int label(const char **p, const char *end, char name[16], char out[E2E_PHASES_LABEL_MAX])
{
        const char *s = *p;
        size_t n = 0;
        while (s < end && *s != '=' && n < 15)
                name[n++] = *s++;
        name[n] = 0;
        if (s + 1 >= end || s[0] != '=' || s[1] != '"')
                return -EINVAL;
        s += 2;
        n = 0;
        /* Our label values have no escapes: one with a backslash is skipped. */
        while (s < end && *s != '"' && *s != '\\' && n < E2E_PHASES_LABEL_MAX - 1)
                out[n++] = *s++;
        if (s >= end || *s != '"')
                return -EINVAL;
        out[n] = 0;
        *p = s + 1;
        return 0;
}

/* One line (without its newline) of `family`'s _sum or _count. */
static void parse_line(const char *s, const char *end, const char *family, size_t flen, struct e2e_phases *ret)
{
        if ((size_t)(end - s) <= flen || memcmp(s, family, flen) != 0)
                return;
        s += flen;
        bool is_sum;
        if ((size_t)(end - s) > 5 && memcmp(s, "_sum{", 5) == 0) {
                is_sum = true;
                s += 5;
        } else if ((size_t)(end - s) > 7 && memcmp(s, "_count{", 7) == 0) {
                is_sum = false;
                s += 7;
        } else {
                return;
        }
        char call[E2E_PHASES_LABEL_MAX] = "", phase[E2E_PHASES_LABEL_MAX] = "", name[16], v[E2E_PHASES_LABEL_MAX];
        for (int i = 0; i < 4 && s < end && *s != '}'; i++) {
                if (label(&s, end, name, v) < 0)
                        return;
                if (strcmp(name, "call") == 0)
                        memcpy(call, v, sizeof(v));
                else if (strcmp(name, "phase") == 0)
                        memcpy(phase, v, sizeof(v));
                if (s < end && *s == ',')
                        s++;
        }
        if (s + 1 >= end || s[0] != '}' || s[1] != ' ' || !call[0] || !phase[0])
                return;
        char num[64];
        size_t n = (size_t)(end - s - 2);
        if (n == 0 || n >= sizeof(num))
                return;
        memcpy(num, s + 2, n);
        num[n] = 0;
        char *e = NULL;
        double x = strtod(num, &e);
        if (*e != 0 || x != x || x < 0)
                return;
        size_t k = 0;
        while (k < ret->n && (strcmp(ret->v[k].call, call) != 0 || strcmp(ret->v[k].phase, phase) != 0))
                k++;
        if (k == ret->n) {
                if (ret->n == E2E_PHASES_MAX)
                        return;
                ret->n++;
                memset(&ret->v[k], 0, sizeof(ret->v[k]));
                memcpy(ret->v[k].call, call, sizeof(call));
                memcpy(ret->v[k].phase, phase, sizeof(phase));
        }
        if (is_sum)
                ret->v[k].sum = x;
        else
                ret->v[k].count = x;
}

void e2e_phases_parse(const char *text, size_t len, const char *family, struct e2e_phases *ret)
{
        size_t flen = strlen(family);
        ret->n = 0;
        for (const char *s = text, *end = text + len; s < end;) {
                const char *nl = memchr(s, '\n', (size_t)(end - s));
                const char *le = nl ? nl : end;
                parse_line(s, le, family, flen, ret);
                s = nl ? nl + 1 : end;
        }
}

int e2e_phases_scrape(const char *hostport, const char *family, struct e2e_phases *ret, struct ak_error *err)
{
        unsigned port;
        const char *colon = strrchr(hostport, ':');
        if (!colon || ak_parse_uint(colon + 1, 1, 65535, &port) < 0)
                return ak_error_set(err, -EINVAL, "metrics address %s: want 127.0.0.1:PORT", hostport);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval tv = { .tv_sec = SCRAPE_TIMEOUT_S };
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return ak_error_errno(err, -errno, "metrics of %s: connect", hostport);
        static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        int r = ak_write_full(fd, req, sizeof(req) - 1);
        if (r < 0)
                return ak_error_errno(err, r, "metrics of %s: send", hostport);
        char *text = NULL;
        size_t len = 0;
        if ((r = ak_read_fd_all(fd, E2E_SCRAPE_MAX, &text, &len)) < 0)
                return ak_error_errno(err, r, "metrics of %s: read (at most %zu bytes)", hostport, E2E_SCRAPE_MAX);
        if (len < 12 || memcmp(text, "HTTP/1.", 7) != 0 || memcmp(text + 9, "200", 3) != 0) {
                free(text);
                return ak_error_set(err, -EPROTO, "metrics of %s: not an HTTP 200 answer", hostport);
        }
        e2e_phases_parse(text, len, family, ret);
        free(text);
        return 0;
}

static const struct e2e_phase *find(const struct e2e_phases *p, const char *call, const char *phase)
{
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->v[i].call, call) == 0 && strcmp(p->v[i].phase, phase) == 0)
                        return &p->v[i];
        return NULL;
}

double e2e_phases_mean_ms(const struct e2e_phases *before, const struct e2e_phases *after, const char *call,
                          const char *phase)
{
        const struct e2e_phase *a = find(after, call, phase), *b = find(before, call, phase);
        double count = (a ? a->count : 0) - (b ? b->count : 0);
        if (count < 0.5)
                return -1;
        return ((a ? a->sum : 0) - (b ? b->sum : 0)) / count * 1000.0;
}
