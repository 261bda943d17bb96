/* The guest scripts' records (detached_parse.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "services/executor/detached_parse.h"

bool detached_id_valid(const char *id, size_t len)
{
        if (len == 0 || len > DETACHED_ID_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f') || id[i] == '-'))
                        return false;
        return true;
}

/* The next space- or newline-ended token of buf[*pos..len); *end is the
 * byte that ended it. -EINVAL if no such byte within 64 bytes. */
static int token(const uint8_t *buf, size_t len, size_t *pos, const uint8_t **ret, size_t *ret_len, uint8_t *end)
{
        size_t p = *pos;
        while (p < len && p - *pos <= 64 && buf[p] != ' ' && buf[p] != '\n')
                p++;
        if (p >= len || p - *pos > 64 || p == *pos)
                return -EINVAL;
        *ret = buf + *pos;
        *ret_len = p - *pos;
        *end = buf[p];
        *pos = p + 1;
        return 0;
}

/* A decimal in [0, max] with no sign, no leading zeros but "0". */
static int number(const uint8_t *s, size_t n, uint64_t max, uint64_t *ret)
{
        if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
                return -EINVAL;
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                unsigned d = (unsigned)(s[i] - '0');
                if (v > (max - d) / 10)
                        return -EINVAL;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

/* Reads the next token as a number ended by `want`. */
static int field(const uint8_t *buf, size_t len, size_t *pos, uint8_t want, uint64_t max, uint64_t *ret)
{
        const uint8_t *t;
        size_t n;
        uint8_t end;
        if (token(buf, len, pos, &t, &n, &end) < 0 || end != want)
                return -EINVAL;
        return number(t, n, max, ret);
}

static int split_argv(const uint8_t *b, size_t n, struct detached_record *r)
{
        size_t count = 0;
        if (n == 0 || b[n - 1] != 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                count += b[i] == 0;
        if (count > DETACHED_MAX_ARGV)
                return -EINVAL;
        r->argv = calloc(count + 1, sizeof(char *));
        if (!r->argv)
                return -ENOMEM;
        for (size_t i = 0, start = 0; i < n; i++) {
                if (b[i] != 0)
                        continue;
                r->argv[r->n_argv] = strndup((const char *)b + start, i - start);
                if (!r->argv[r->n_argv])
                        return -ENOMEM;
                r->n_argv++;
                start = i + 1;
        }
        return 0;
}

static int parse_found(const uint8_t *buf, size_t len, size_t *pos, bool with_data, struct detached_record *r)
{
        uint64_t pid, started, exit_code = 0, killed, out, err, max, cmd_len;
        const uint8_t *t;
        size_t n;
        uint8_t end;
        if (field(buf, len, pos, ' ', INT32_MAX, &pid) < 0 || field(buf, len, pos, ' ', INT64_MAX, &started) < 0)
                return -EINVAL;
        if (token(buf, len, pos, &t, &n, &end) < 0 || end != ' ')
                return -EINVAL;
        if (!(n == 1 && t[0] == '-')) {
                if (number(t, n, 255, &exit_code) < 0)
                        return -EINVAL;
                r->has_exit = true;
                r->exit_code = (int)exit_code;
        }
        if (field(buf, len, pos, ' ', 1, &killed) < 0 || field(buf, len, pos, ' ', INT64_MAX, &out) < 0 ||
            field(buf, len, pos, ' ', INT64_MAX, &err) < 0 || field(buf, len, pos, ' ', INT64_MAX, &max) < 0 ||
            field(buf, len, pos, '\n', len, &cmd_len) < 0)
                return -EINVAL;
        r->pid = (int32_t)pid;
        r->started_ms = (int64_t)started;
        r->killed = killed;
        r->out_bytes = out;
        r->err_bytes = err;
        r->max_log = max;
        if (cmd_len > len - *pos)
                return -EINVAL;
        int ret = split_argv(buf + *pos, (size_t)cmd_len, r);
        if (ret < 0)
                return ret;
        *pos += (size_t)cmd_len;
        if (with_data) {
                uint64_t dl;
                if (field(buf, len, pos, '\n', len, &dl) < 0 || dl > len - *pos)
                        return -EINVAL;
                r->has_data = true;
                r->data = buf + *pos;
                r->data_len = (size_t)dl;
                *pos += (size_t)dl;
        }
        r->found = true;
        return 0;
}

int detached_record_parse(const uint8_t *buf, size_t len, size_t *pos, bool with_data,
                          struct detached_record *ret)
{
        struct detached_record r = { 0 };
        const uint8_t *t;
        size_t n, p = *pos;
        uint8_t end;
        int e = -EINVAL;
        if (p > len || token(buf, len, &p, &t, &n, &end) < 0 || end != ' ' || n != 3 || memcmp(t, "ak", 2) != 0 ||
            (t[2] != '0' && t[2] != '1'))
                return -EINVAL;
        bool found = t[2] == '1';
        const uint8_t *id;
        size_t id_len;
        if (token(buf, len, &p, &id, &id_len, &end) < 0 || end != (found ? ' ' : '\n') ||
            !detached_id_valid((const char *)id, id_len))
                return -EINVAL;
        memcpy(r.id, id, id_len);
        if (found && (e = parse_found(buf, len, &p, with_data, &r)) < 0) {
                detached_record_done(&r);
                return e;
        }
        *pos = p;
        *ret = r;
        return 0;
}

void detached_record_done(struct detached_record *r)
{
        if (!r || !r->argv)
                return;
        for (size_t i = 0; i < r->n_argv; i++)
                free(r->argv[i]);
        free(r->argv);
        r->argv = NULL;
        r->n_argv = 0;
}
