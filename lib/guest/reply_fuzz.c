/* libFuzzer target for what the host decodes from a guest: the byte stream
 * a guest agent sends is cut into frames (the first byte chooses how the
 * input is split across reads, as guest_client reads them), and every frame
 * body goes through proto_reply_parse. The guest is hostile, so:
 *   - the parser answers 0, -EINVAL or -ENOMEM, nothing else;
 *   - a parsed reply is self-consistent: an id, every string NUL-terminated
 *     (stdout/stderr at their lengths, which may hold NULs), signal in range;
 *   - written back out by the agent's own writer and parsed again, it is the
 *     same reply (the two ends agree on every field);
 *   - its base64 fields decode as the executor decodes them (output chunks,
 *     file contents), with the error text and the result agreeing.
 * Seeds (reply_corpus/) are frames a real ak-guest sent: ping, run with
 * output, streamed chunks, timeout, signal, truncation, errors, files and a
 * shell session. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/encoding/base64.h"
#include "lib/guest/frame.h"
#include "lib/guest/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int str_eq(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

static int buf_eq(const char *a, size_t an, const char *b, size_t bn)
{
        if (!a || !b)
                return a == b;
        return an == bn && memcmp(a, b, an) == 0;
}

static void check_base64(const char *s)
{
        if (!s)
                return;
        size_t n = strlen(s);
        uint8_t *out;
        size_t out_len;
        const char *why = base64_decode_error(s, n);
        int e = base64_decode_alloc(s, n, &out, &out_len);
        if ((e == 0) != (why == NULL) || (e < 0 && e != -EINVAL && e != -ENOMEM))
                abort();
        if (e == 0) {
                if (out_len > n)
                        abort();
                free(out);
        }
}

/* The reply as the agent would write it, parsed again: the same reply. */
static void check_round_trip(const struct proto_reply *r)
{
        struct proto_response w = {
                .id = r->id,
                .has_exit_code = r->has_exit_code,
                .exit_code = r->exit_code,
                .stdout_buf = r->stdout_str,
                .stdout_len = r->stdout_len,
                .has_stdout = r->stdout_str != NULL,
                .stderr_buf = r->stderr_str,
                .stderr_len = r->stderr_len,
                .has_stderr = r->stderr_str != NULL,
                .error = r->error,
                .content_base64 = r->content_base64,
                .content_base64_len = r->content_base64 ? strlen(r->content_base64) : 0,
                .session_id = r->session_id,
                .output_base64 = r->output_base64,
                .output_base64_len = r->output_base64 ? strlen(r->output_base64) : 0,
                .shell_event = r->shell_event,
                .stream = r->stream,
                .truncated = r->truncated,
                .timed_out = r->timed_out,
                .signal = r->signal,
        };
        char *json;
        size_t len;
        struct proto_reply *again;

        if (proto_response_json(&w, &json, &len) < 0)
                return; /* -ENOMEM */
        int e = proto_reply_parse(json, len, &again);
        free(json);
        if (e == -ENOMEM)
                return;
        if (e < 0)
                abort();
        /* C-string fields go out up to their first NUL: compare as C strings. */
        if (!str_eq(r->id, again->id) || r->has_exit_code != again->has_exit_code ||
            (r->has_exit_code && r->exit_code != again->exit_code) ||
            !buf_eq(r->stdout_str, r->stdout_len, again->stdout_str, again->stdout_len) ||
            !buf_eq(r->stderr_str, r->stderr_len, again->stderr_str, again->stderr_len) ||
            !str_eq(r->error, again->error) || !str_eq(r->content_base64, again->content_base64) ||
            !str_eq(r->session_id, again->session_id) || !str_eq(r->output_base64, again->output_base64) ||
            !str_eq(r->shell_event, again->shell_event) || !str_eq(r->stream, again->stream) ||
            r->truncated != again->truncated || r->timed_out != again->timed_out || r->signal != again->signal)
                abort();
        proto_reply_free(again);
}

static void handle(const uint8_t *body, size_t len)
{
        struct proto_reply *r = NULL;
        int e = proto_reply_parse(body, len, &r);

        if (e == -EINVAL || e == -ENOMEM)
                return;
        if (e != 0 || !r || !r->id)
                abort();
        if ((r->stdout_str && r->stdout_str[r->stdout_len] != '\0') ||
            (r->stderr_str && r->stderr_str[r->stderr_len] != '\0') || r->signal < 0 || r->signal > 1024)
                abort();
        check_base64(r->output_base64);
        check_base64(r->content_base64);
        check_round_trip(r);
        proto_reply_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct frame_reader *rd;

        if (size < 1)
                return 0;
        size_t step = (size_t)data[0] + 1;
        data++;
        size--;
        /* A small limit so oversize frames are reachable. */
        if (frame_reader_new(4096, &rd) < 0)
                return 0;
        for (size_t off = 0; off < size;) {
                size_t chunk = size - off < step ? size - off : step;
                size_t used = 0;
                while (used < chunk) {
                        size_t u;
                        int st = frame_reader_feed(rd, data + off + used, chunk - used, &u);
                        used += u;
                        if (st == FRAME_READY) {
                                uint8_t *body;
                                size_t len;
                                frame_reader_take(rd, &body, &len);
                                handle(body, len);
                                free(body);
                        } else if (st < 0 || (st == FRAME_NEED_MORE && used < chunk)) {
                                abort();
                        }
                }
                off += chunk;
        }
        frame_reader_free(rd);
        /* The whole input as one body too: replies need not come framed to
         * reach the parser in a fuzzer's few steps. */
        handle(data, size);
        return 0;
}
