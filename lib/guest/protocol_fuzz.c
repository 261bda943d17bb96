/* libFuzzer target for everything the agent decodes from a host: the byte
 * stream is cut into frames (with the first byte choosing how the input is
 * split across reads), every frame goes through the request parser, and
 * what the agent would echo back (id, strings, lossy output) is serialized
 * and checked to be valid JSON that fits the frame limit. The raw bytes also
 * go through utf8_sanitize, as guest text does on the host: what comes out
 * must be valid UTF-8 without a control character but \n and \t. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/utf8.h"
#include "lib/encoding/base64.h"
#include "lib/guest/frame.h"
#include "lib/guest/protocol.h"
#include "lib/json/json.h"
#include "lib/json/writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_sanitize(const uint8_t *data, size_t size)
{
        char *s = malloc(size + 1);
        if (!s)
                return;
        memcpy(s, data, size);
        size_t n = utf8_sanitize(s, size);
        if (n > size || s[n] != 0 || !utf8_valid(s, n))
                abort();
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
                        abort();
                if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9f)
                        abort();
        }
        free(s);
}

/* JSON in valid UTF-8: the strict reader (serde_json's rules) takes it. */
static void check_json(const char *s, size_t n)
{
        struct json_value *v;
        if (json_parse(s, n, &v, NULL) < 0)
                abort();
        json_value_free(v);
}

static void handle(const uint8_t *body, size_t len)
{
        struct proto_request *req;
        struct proto_error err;

        if (proto_request_parse(body, len, &req, &err) < 0) {
                struct proto_response r = { .id = err.id ? err.id : "", .error = err.message };
                uint8_t *f;
                size_t n;
                if (proto_response_frame(&r, &f, &n) == 0) {
                        check_json((char *)f + 4, n - 4);
                        free(f);
                }
                proto_error_done(&err);
                return;
        }
        /* Ranges the agent relies on without checking again. */
        if (req->mode < -1 || req->mode > PROTO_MAX_MODE || req->rows < -1 || req->rows > 65535 ||
            req->cols < -1 || req->cols > 65535)
                abort();
        /* Echo the fields the agent echoes, the raw body as "output". */
        struct proto_response r = {
                .id = req->id,
                .has_exit_code = true,
                .has_stdout = true,
                .stdout_buf = body,
                .stdout_len = len,
                .has_stderr = true,
                .stderr_buf = req->n_command ? req->command[0] : "",
                .stderr_len = req->n_command ? strlen(req->command[0]) : 0,
                .session_id = req->session_id,
        };
        uint8_t *f;
        size_t n;
        if (proto_response_frame(&r, &f, &n) == 0) {
                if (n - 4 > FRAME_MAX)
                        abort();
                check_json((char *)f + 4, n - 4);
                free(f);
        }
        if (req->content_base64) {
                uint8_t *out;
                size_t out_len;
                const char *why = base64_decode_error(req->content_base64, req->content_base64_len);
                int e = base64_decode_alloc(req->content_base64, req->content_base64_len, &out, &out_len);
                if ((e == 0) != (why == NULL) || (e < 0 && e != -EINVAL && e != -ENOMEM))
                        abort();
                if (e == 0) {
                        /* Round trip must give back the canonical input. */
                        char *enc;
                        if (base64_encode_alloc(out, out_len, &enc) == 0) {
                                if (strcmp(enc, req->content_base64) != 0)
                                        abort();
                                free(enc);
                        }
                        free(out);
                }
        }
        proto_request_free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct frame_reader *r;
        size_t step, off;

        if (size < 1)
                return 0;
        step = (size_t)data[0] + 1;
        data++;
        size--;

        check_sanitize(data, size);

        /* Bytes that are not frames at all: the lossy writer must cope. */
        const char *text = (const char *)data;
        struct json_writer *w;
        if (json_writer_new(PROTO_JSON_FLAGS, 0, &w) == 0) {
                char *out;
                size_t out_len;
                json_writer_string(w, text, size);
                if (json_writer_finish(w, &out, &out_len) == 0) {
                        if (out_len != json_quoted_size(text, size, PROTO_JSON_FLAGS))
                                abort();
                        check_json(out, out_len);
                        size_t cut = json_quoted_cut(text, size, PROTO_JSON_FLAGS, size / 2 + 2);
                        if (json_quoted_size(text, cut, PROTO_JSON_FLAGS) > size / 2 + 2)
                                abort();
                        free(out);
                }
                json_writer_free(w);
        }

        /* A small limit so oversize frames are reachable. */
        if (frame_reader_new(4096, &r) < 0)
                return 0;
        for (off = 0; off < size;) {
                size_t chunk = size - off < step ? size - off : step;
                size_t used = 0;
                while (used < chunk) {
                        size_t u;
                        int st = frame_reader_feed(r, data + off + used, chunk - used, &u);
                        used += u;
                        if (st == FRAME_READY) {
                                uint8_t *body;
                                size_t len;
                                frame_reader_take(r, &body, &len);
                                handle(body, len);
                                free(body);
                        } else if (st < 0 || (st == FRAME_NEED_MORE && used < chunk)) {
                                abort();
                        }
                }
                off += chunk;
        }
        frame_reader_free(r);
        return 0;
}
