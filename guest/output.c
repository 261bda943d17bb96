#include "guest/output.h"
#include "lib/guest/protocol.h"
#include "lib/json/writer.h"

bool output_fit(const void *out, size_t out_len, const void *err, size_t err_len, size_t budget,
                size_t *ret_out_len, size_t *ret_err_len)
{
        size_t so = json_quoted_size(out, out_len, PROTO_JSON_FLAGS);
        size_t se = json_quoted_size(err, err_len, PROTO_JSON_FLAGS);

        if (so + se <= budget) {
                *ret_out_len = out_len;
                *ret_err_len = err_len;
                return false;
        }
        size_t half = budget / 2, bo, be;
        if (so <= half) {
                bo = so;
                be = budget - so;
        } else if (se <= half) {
                be = se;
                bo = budget - se;
        } else {
                bo = half;
                be = budget - half;
        }
        *ret_out_len = json_quoted_cut(out, out_len, PROTO_JSON_FLAGS, bo);
        *ret_err_len = json_quoted_cut(err, err_len, PROTO_JSON_FLAGS, be);
        return true;
}
