/* libFuzzer: ak-gateway's request parsing. The first byte picks a method,
 * bytes up to the first NUL are the URL path (gw_route_parse), the rest is
 * the JSON body fed to every body decoder. Checks on top of "no crash":
 * a parsed name passes gw_name_ok, a parsed file path is absolute with no
 * "." or ".." segment, and a detached command id is 1-64 of [0-9a-f-]. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/gateway/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const char *p)
{
        assert(p[0] == '/');
        for (const char *s = p; *s;) {
                s++;
                const char *e = strchr(s, '/');
                size_t n = e ? (size_t)(e - s) : strlen(s);
                assert(!(n == 1 && s[0] == '.'));
                assert(!(n == 2 && s[0] == '.' && s[1] == '.'));
                s += n;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "PATCH" };
        static int (*const decoders[])(const char *, size_t, struct gw_req *, struct ak_error *) = {
                gw_run_decode, gw_create_decode, gw_exec_decode, gw_file_decode,
                gw_files_decode, gw_batch_decode, gw_extend_decode, gw_snapshot_decode,
        };
        static const enum gw_route_id ids[] = { GW_RUN, GW_CREATE, GW_EXEC, GW_FILE_PUT,
                                                GW_FILES_BATCH, GW_BATCH_RUN, GW_EXTEND, GW_SNAP_TAKE };
        if (size == 0)
                return 0;
        const char *method = methods[data[0] % 5];
        data++, size--;
        const uint8_t *nul = memchr(data, 0, size);
        size_t ulen = nul ? (size_t)(nul - data) : size;
        char *url = malloc(ulen + 1);
        if (!url)
                return 0;
        memcpy(url, data, ulen);
        url[ulen] = '\0';
        struct gw_route rt;
        struct ak_error err;
        if (gw_route_parse(method, url, &rt, &err) == 0) {
                if (rt.name[0])
                        assert(gw_name_ok(rt.name));
                if (rt.id == GW_FILE_GET || rt.id == GW_FILE_PUT || rt.id == GW_FILE_DELETE)
                        check_path(rt.path);
                if (rt.id == GW_DETACHED_GET || rt.id == GW_DETACHED_KILL || rt.id == GW_DETACHED_LOGS) {
                        size_t n = strlen(rt.detached_id);
                        if (n < 1 || n > 64 || strspn(rt.detached_id, "0123456789abcdef-") != n)
                                abort();
                }
        }
        free(url);
        if (!nul)
                return 0;
        const char *body = (const char *)nul + 1;
        size_t blen = size - ulen - 1;
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
                struct gw_req q;
                if (decoders[i](body, blen, &q, &err) == 0) {
                        if (ids[i] == GW_SNAP_TAKE)
                                assert(gw_name_ok(q.snapshot.sandbox) && (!q.snapshot.name || gw_name_ok(q.snapshot.name)));
                        gw_req_free(ids[i], &q);
                }
        }
        uint64_t s;
        char b[64];
        const char *k, *v;
        char *t = strndup(body, blen > 60 ? 60 : blen);
        if (t) {
                (void)gw_duration_parse(t, &s);
                (void)gw_label_parse(t, b, sizeof(b), &k, &v);
                free(t);
        }
        return 0;
}
