#include "json_write.h"
#include "output.h"

bool output_fit(const void *out, size_t out_len, const void *err, size_t err_len, size_t budget,
                size_t *ret_out_len, size_t *ret_err_len)
{
        size_t so = jw_string_size(out, out_len);
        size_t se = jw_string_size(err, err_len);

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
        *ret_out_len = jw_string_cut(out, out_len, bo);
        *ret_err_len = jw_string_cut(err, err_len, be);
        return true;
}
