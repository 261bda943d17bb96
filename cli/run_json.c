/* The result objects of `ak run --json` and `ak exec --json` (run_json.h). */
#include "cli/run_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/encoding/base64.h"
#include "lib/json/writer.h"

/* Results are small: a bound well above any field's limit. */
#define RUN_JSON_MAX (64 * 1024)

static void str(struct json_writer *w, const char *key, const char *v)
{
        json_writer_key(w, key, strlen(key));
        json_writer_string(w, v, strlen(v));
}

static void emit(struct json_writer *w)
{
        char *out = NULL;
        size_t n = 0;
        int r = json_writer_finish(w, &out, &n);
        if (r < 0)
                fprintf(stderr, "ak: could not write the JSON result: %s\n", strerror(-r));
        else {
                fwrite(out, 1, n, stdout);
                fputc('\n', stdout);
                fflush(stdout);
        }
        free(out);
        json_writer_free(w);
}

static struct json_writer *start_sized(size_t extra)
{
        struct json_writer *w = NULL;
        if (json_writer_new(JSON_WRITER_LOSSY, RUN_JSON_MAX + extra, &w) < 0) {
                fprintf(stderr, "ak: out of memory writing the JSON result\n");
                return NULL;
        }
        json_writer_begin_object(w);
        return w;
}

static struct json_writer *start(void)
{
        return start_sized(0);
}

int run_outcome_capture(struct run_outcome *oc, bool err, const uint8_t *p, size_t n)
{
        struct run_capture *c = err ? &oc->err : &oc->out;
        if (n > RUN_JSON_CAPTURE_MAX - c->len) {
                n = RUN_JSON_CAPTURE_MAX - c->len;
                oc->truncated = true;
        }
        if (c->len + n > c->cap) {
                size_t cap = c->cap ? c->cap : 64 * 1024;
                while (cap < c->len + n)
                        cap *= 2;
                if (cap > RUN_JSON_CAPTURE_MAX)
                        cap = RUN_JSON_CAPTURE_MAX;
                uint8_t *d = realloc(c->data, cap);
                if (!d)
                        return -ENOMEM;
                c->data = d;
                c->cap = cap;
        }
        if (n)
                memcpy(c->data + c->len, p, n);
        c->len += n;
        return 0;
}

void run_outcome_free(struct run_outcome *oc)
{
        free(oc->out.data);
        free(oc->err.data);
        oc->out = oc->err = (struct run_capture){ 0 };
}

static void base64_member(struct json_writer *w, const char *key, const struct run_capture *c)
{
        char *b = NULL;
        json_writer_key(w, key, strlen(key));
        if (base64_encode_alloc(c->data ? c->data : (const uint8_t *)"", c->len, &b) < 0) {
                json_writer_null(w);
                return;
        }
        json_writer_string(w, b, strlen(b));
        free(b);
}

void run_json_result(const struct run_outcome *oc, int kept)
{
        if (!oc->have_result) {
                run_json_error(oc->error[0] ? oc->error : "the stream ended without a result");
                return;
        }
        size_t extra = oc->capture ? base64_encoded_len(oc->out.len) + base64_encoded_len(oc->err.len) : 0;
        struct json_writer *w = start_sized(extra);
        if (!w)
                return;
        json_writer_key(w, "exit_code", 9);
        json_writer_i64(w, oc->exit_code);
        json_writer_key(w, "receipt_id", 10);
        json_writer_string_or_null(w, oc->receipt_id[0] ? oc->receipt_id : NULL);
        json_writer_key(w, "receipt", 7);
        json_writer_string_or_null(w, oc->receipt_path[0] ? oc->receipt_path : NULL);
        json_writer_key(w, "receipt_signed", 14);
        json_writer_bool(w, oc->receipt_signed);
        json_writer_key(w, "duration_ms", 11);
        json_writer_i64(w, oc->duration_ms);
        str(w, "sandbox", oc->sandbox);
        json_writer_key(w, "timed_out", 9);
        json_writer_bool(w, oc->timed_out);
        json_writer_key(w, "truncated", 9);
        json_writer_bool(w, oc->truncated);
        json_writer_key(w, "output_bytes", 12);
        json_writer_u64(w, oc->output_bytes);
        if (kept >= 0) {
                json_writer_key(w, "kept", 4);
                json_writer_bool(w, kept != 0);
        }
        if (oc->signal > 0) {
                json_writer_key(w, "signal", 6);
                json_writer_i64(w, oc->signal);
        }
        if (oc->error[0])
                str(w, "error", oc->error);
        if (oc->capture) {
                base64_member(w, "stdout_base64", &oc->out);
                base64_member(w, "stderr_base64", &oc->err);
        }
        json_writer_end_object(w);
        emit(w);
}

void run_json_error(const char *msg)
{
        struct json_writer *w = start();
        if (!w)
                return;
        str(w, "error", msg);
        json_writer_end_object(w);
        emit(w);
}

void run_json_detached(const char *id, int32_t pid, const char *sandbox)
{
        struct json_writer *w = start();
        if (!w)
                return;
        str(w, "id", id);
        json_writer_key(w, "pid", 3);
        json_writer_i64(w, pid);
        str(w, "sandbox", sandbox);
        json_writer_end_object(w);
        emit(w);
}
