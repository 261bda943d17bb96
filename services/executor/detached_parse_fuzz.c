/* detached_parse on arbitrary guest bytes: every record parsed must lie
 * within the input, and parsing always advances or stops. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "services/executor/detached_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        for (int with_data = 0; with_data < 2; with_data++) {
                size_t pos = 0;
                struct detached_record r;
                while (pos < size && detached_record_parse(data, size, &pos, with_data, &r) == 0) {
                        if (pos > size || !detached_id_valid(r.id, strlen(r.id)))
                                abort();
                        if (r.has_data && (r.data < data || r.data + r.data_len > data + size))
                                abort();
                        if (r.found && (!r.argv || r.n_argv == 0 || r.n_argv > DETACHED_MAX_ARGV))
                                abort();
                        if (r.has_exit && (r.exit_code < 0 || r.exit_code > 255))
                                abort();
                        detached_record_done(&r);
                }
        }
        return 0;
}
