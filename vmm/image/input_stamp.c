/* The input stamp: a strict line parser and its writer (input_stamp.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lib/base/parse.h"
#include "vmm/image/input_stamp.h"

static bool word_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '+' || c == ':' || c == '~' || c == '-';
}

static bool is_word(const char *s, size_t len, size_t max)
{
        if (len == 0 || len >= max)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!word_char(s[i]))
                        return false;
        return true;
}

static bool is_role(const char *s, size_t len)
{
        if (len == 0 || len >= sizeof(((struct input_stamp_file *)0)->role))
                return false;
        for (size_t i = 0; i < len; i++)
                if (s[i] < 'a' || s[i] > 'z')
                        return false;
        return true;
}

static bool is_hex64(const char *s, size_t len)
{
        if (len != 64)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static bool is_path(const char *s, size_t len)
{
        return len > 0 && len < INPUT_STAMP_PATH_MAX && s[0] == '/' && !memchr(s, 0, len);
}

/* A decimal without leading zeros, from the token at *p (ended by a space
 * or the line's end at end). */
static bool take_u64(const char **p, const char *end, uint64_t *ret)
{
        char buf[24];
        const char *s = *p;
        size_t n = 0;
        while (s + n < end && s[n] != ' ')
                n++;
        if (n == 0 || n >= sizeof(buf) || (n > 1 && s[0] == '0'))
                return false;
        memcpy(buf, s, n);
        buf[n] = 0;
        if (ak_parse_u64(buf, 0, UINT64_MAX, ret) < 0)
                return false;
        *p = s + n;
        return true;
}

/* "key value": the value's bounds, when the line starts with key and a space. */
static bool take_key(const char *line, size_t len, const char *key, const char **ret_v, size_t *ret_len)
{
        size_t kl = strlen(key);
        if (len <= kl + 1 || memcmp(line, key, kl) != 0 || line[kl] != ' ')
                return false;
        *ret_v = line + kl + 1;
        *ret_len = len - kl - 1;
        return true;
}

static bool parse_file_line(const char *v, size_t len, struct input_stamp_file *f)
{
        const char *end = v + len, *p = v;
        size_t rl = 0;
        while (p + rl < end && p[rl] != ' ')
                rl++;
        if (!is_role(p, rl) || p + rl == end)
                return false;
        memcpy(f->role, p, rl);
        f->role[rl] = 0;
        p += rl + 1;
        uint64_t *nums[] = { &f->dev, &f->ino, &f->size, &f->mtime_ns, &f->ctime_ns };
        for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
                if (!take_u64(&p, end, nums[i]) || p == end || *p != ' ')
                        return false;
                p++;
        }
        if (!is_path(p, (size_t)(end - p)))
                return false;
        memcpy(f->path, p, (size_t)(end - p));
        f->path[end - p] = 0;
        return true;
}

/* One header line (index i: format, kernel, env, hash, recorded) into s. */
static bool parse_header(int i, const char *line, size_t len, struct input_stamp *s)
{
        static const char *const keys[] = { "format", "kernel", "env", "hash", "recorded" };
        const char *v;
        size_t vl;
        if (!take_key(line, len, keys[i], &v, &vl))
                return false;
        switch (i) {
        case 0:
                if (!is_word(v, vl, sizeof(s->format)))
                        return false;
                memcpy(s->format, v, vl);
                s->format[vl] = 0;
                return true;
        case 1:
                if (!is_word(v, vl, sizeof(s->kernel)))
                        return false;
                memcpy(s->kernel, v, vl);
                s->kernel[vl] = 0;
                return true;
        case 2:
        case 3: {
                char *dst = i == 2 ? s->env : s->hash;
                if (!is_hex64(v, vl))
                        return false;
                memcpy(dst, v, vl);
                dst[vl] = 0;
                return true;
        }
        default: {
                const char *p = v;
                return take_u64(&p, v + vl, &s->recorded_ns) && p == v + vl;
        }
        }
}

int input_stamp_parse(const char *text, size_t len, struct input_stamp *ret, struct ak_error *err)
{
        static const char *const what[] = { "the magic line", "format", "kernel", "env", "hash", "recorded" };
        struct input_stamp s;
        size_t line_no = 0;

        if (len > INPUT_STAMP_MAX_BYTES)
                return ak_error_set(err, -E2BIG, "stamp is %zu bytes, at most %d", len, INPUT_STAMP_MAX_BYTES);
        memset(&s, 0, sizeof(s));
        for (const char *p = text, *end = text + len; p < end;) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                if (!nl)
                        return ak_error_set(err, -EINVAL, "stamp line %zu: no newline at the end", line_no + 1);
                size_t ll = (size_t)(nl - p);
                bool ok;
                if (memchr(p, 0, ll))
                        ok = false;
                else if (line_no == 0)
                        ok = ll == strlen(INPUT_STAMP_MAGIC) && memcmp(p, INPUT_STAMP_MAGIC, ll) == 0;
                else if (line_no <= 5)
                        ok = parse_header((int)line_no - 1, p, ll, &s);
                else if (s.n_files == INPUT_STAMP_MAX_FILES)
                        return ak_error_set(err, -E2BIG, "stamp line %zu: more than %d files", line_no + 1,
                                            INPUT_STAMP_MAX_FILES);
                else {
                        const char *v;
                        size_t vl;
                        ok = take_key(p, ll, "file", &v, &vl) && parse_file_line(v, vl, &s.files[s.n_files]);
                        if (ok)
                                s.n_files++;
                }
                if (!ok)
                        return ak_error_set(err, -EINVAL, "stamp line %zu: not %s", line_no + 1,
                                            line_no <= 5 ? what[line_no] : "a file line");
                line_no++;
                p = nl + 1;
        }
        if (line_no < 6 || s.n_files == 0)
                return ak_error_set(err, -EINVAL, "stamp ends after %zu lines, before its first file line",
                                    line_no);
        *ret = s;
        return 0;
}

int input_stamp_format(const struct input_stamp *s, char *buf, size_t size)
{
        size_t len = 0;
        int n;

        if (!is_word(s->format, strlen(s->format), sizeof(s->format)) ||
            !is_word(s->kernel, strlen(s->kernel), sizeof(s->kernel)) || !is_hex64(s->env, strlen(s->env)) ||
            !is_hex64(s->hash, strlen(s->hash)) || s->n_files == 0 || s->n_files > INPUT_STAMP_MAX_FILES)
                return -EINVAL;
        n = snprintf(buf, size, INPUT_STAMP_MAGIC "\nformat %s\nkernel %s\nenv %s\nhash %s\nrecorded %" PRIu64 "\n",
                     s->format, s->kernel, s->env, s->hash, s->recorded_ns);
        if (n < 0 || (size_t)n >= size)
                return -E2BIG;
        len = (size_t)n;
        for (size_t i = 0; i < s->n_files; i++) {
                const struct input_stamp_file *f = &s->files[i];
                if (!is_role(f->role, strlen(f->role)) || !is_path(f->path, strlen(f->path)) || strchr(f->path, '\n'))
                        return -EINVAL;
                n = snprintf(buf + len, size - len,
                             "file %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", f->role,
                             f->dev, f->ino, f->size, f->mtime_ns, f->ctime_ns, f->path);
                if (n < 0 || (size_t)n >= size - len)
                        return -E2BIG;
                len += (size_t)n;
        }
        if (len > INPUT_STAMP_MAX_BYTES)
                return -E2BIG;
        return (int)len;
}

static uint64_t ts_ns(const struct timespec *t)
{
        return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

int input_stamp_file_stat(const char *role, const char *path, struct input_stamp_file *ret)
{
        struct stat st;
        size_t pl = strlen(path);

        if (!is_role(role, strlen(role)) || path[0] != '/' || strchr(path, '\n'))
                return -EINVAL;
        if (pl >= INPUT_STAMP_PATH_MAX)
                return -ENAMETOOLONG;
        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_mtim.tv_sec < 0 || st.st_ctim.tv_sec < 0 || st.st_size < 0)
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));
        strcpy(ret->role, role);
        memcpy(ret->path, path, pl + 1);
        ret->dev = (uint64_t)st.st_dev;
        ret->ino = (uint64_t)st.st_ino;
        ret->size = (uint64_t)st.st_size;
        ret->mtime_ns = ts_ns(&st.st_mtim);
        ret->ctime_ns = ts_ns(&st.st_ctim);
        return 0;
}

bool input_stamp_file_current(const struct input_stamp_file *f, uint64_t recorded_ns)
{
        struct input_stamp_file now;

        if (input_stamp_file_stat(f->role, f->path, &now) < 0)
                return false;
        if (now.dev != f->dev || now.ino != f->ino || now.size != f->size || now.mtime_ns != f->mtime_ns ||
            now.ctime_ns != f->ctime_ns)
                return false;
        return f->ctime_ns < recorded_ns && recorded_ns - f->ctime_ns >= INPUT_STAMP_RACY_NS;
}
