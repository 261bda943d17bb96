/* ak_log_render on arbitrary bytes as the message and field values (what a
 * guest, a client or a file may put into a log line: sandbox names, error
 * texts, paths). Input: one byte of settings (bit 0: JSON, bits 1-2: the
 * level), then NUL-separated pieces: the message, then field values (keys
 * are the program's own, "k0".."k19"; a piece starting with '#' is an
 * integer field of its next 8 bytes). More than AK_LOG_MAX_FIELDS pieces
 * test the cut.
 *
 * Checked for every input: the line is one line of valid UTF-8 with no
 * control character; in JSON it parses as one object with time, level,
 * service and msg, the fields in order under their keys, and the message
 * and every string value come back as promised (cut to AK_LOG_VALUE_MAX,
 * control characters dropped, invalid UTF-8 as '?'); in text, every field
 * kept is there as " kN=". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/utf8.h"
#include "lib/json/json.h"
#include "lib/log/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PIECES_MAX 20

struct input {
        char *msg;
        struct ak_log_field f[PIECES_MAX];
        char keys[PIECES_MAX][8];
        size_t n;
};

static void split(char *text, size_t len, struct input *in)
{
        char *p = text, *end = text + len;
        in->msg = p;
        p += strlen(p) + 1;
        while (p < end && in->n < PIECES_MAX) {
                size_t i = in->n++;
                snprintf(in->keys[i], sizeof(in->keys[i]), "k%zu", i);
                if (*p == '#') {
                        int64_t v = 0;
                        size_t avail = (size_t)(end - p - 1);
                        memcpy(&v, p + 1, avail < 8 ? avail : 8);
                        in->f[i] = AK_LOG_I(in->keys[i], v);
                        p += 1 + (avail < 8 ? avail : 8);
                        p += p < end ? strlen(p) + 1 : 0;
                } else {
                        in->f[i] = AK_LOG_S(in->keys[i], p);
                        p += strlen(p) + 1;
                }
        }
}

/* v is the string the log promises for raw: cut to AK_LOG_VALUE_MAX
 * bytes, then utf8_sanitize'd (control characters but \n and \t dropped,
 * invalid units as '?'). */
static void expect_string(const struct json_value *v, const char *raw)
{
        char *want = strndup(raw, AK_LOG_VALUE_MAX);
        size_t n;
        const char *s = json_string(v, &n);
        if (!want)
                return;
        utf8_sanitize_str(want);
        if (!s || n != strlen(want) || memcmp(s, want, n))
                abort();
        free(want);
}

static void check_json(const char *line, const struct input *in)
{
        struct json_value *v = NULL;
        struct json_error je;
        if (json_parse(line, strlen(line), &v, &je) < 0 || json_value_type(v) != JSON_OBJECT)
                abort();
        static const char *const head[] = { "time", "level", "service", "msg" };
        size_t kept = in->n < AK_LOG_MAX_FIELDS ? in->n : AK_LOG_MAX_FIELDS;
        if (json_object_size(v) != 4 + kept)
                abort();
        for (size_t i = 0; i < 4; i++)
                if (strcmp(json_object_key(v, i, NULL), head[i]) || json_value_type(json_object_value(v, i)) != JSON_STRING)
                        abort();
        if (strcmp(json_string(json_object_get(v, "service"), NULL), "ak-fuzz"))
                abort();
        for (size_t i = 0; i < kept; i++) {
                const struct json_value *fv = json_object_value(v, 4 + i);
                if (strcmp(json_object_key(v, 4 + i, NULL), in->keys[i]))
                        abort();
                if (!in->f[i].str) {
                        int64_t num;
                        if (json_number_i64(fv, &num) < 0 || num != in->f[i].num)
                                abort();
                        continue;
                }
                expect_string(fv, in->f[i].str);
        }
        expect_string(json_object_get(v, "msg"), in->msg);
        json_value_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 1)
                return 0;
        struct ak_error err = { 0 };
        if (ak_log_setup("ak-fuzz", data[0] & 1 ? "json" : "text", NULL, &err) < 0)
                abort();
        enum ak_log_level level = (enum ak_log_level)((data[0] >> 1) & 3);
        char *text = malloc(size); /* the bytes after the settings, NUL-terminated */
        if (!text)
                return 0;
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        struct input in = { 0 };
        split(text, size - 1, &in);

        char *line = NULL;
        if (ak_log_render(level, in.msg, in.f, in.n, 1796648738123, &line) < 0)
                abort();
        size_t len = strlen(line);
        if (!utf8_valid(line, len))
                abort();
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
                        abort();
        if (data[0] & 1) {
                check_json(line, &in);
        } else {
                size_t kept = in.n < AK_LOG_MAX_FIELDS ? in.n : AK_LOG_MAX_FIELDS;
                for (size_t i = 0; i < kept; i++) {
                        char want[16];
                        snprintf(want, sizeof(want), " %s=", in.keys[i]);
                        if (!strstr(line, want))
                                abort();
                }
        }
        free(line);
        free(text);
        return 0;
}
