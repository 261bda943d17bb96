/* libFuzzer: agentkernel.toml bytes through the whole loader (cpptoml, the
 * line locator, the schema walk). */
#include <stddef.h>
#include <stdint.h>

#include "cli/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct config *c = NULL;
        struct ak_error err = { 0 };
        if (config_parse("fuzz.toml", (const char *)data, size, &c, &err) == 0)
                config_free(c);
        return 0;
}
