#include <string.h>

#include "services/executor/profile.h"

static const struct profile profiles[] = {
        { .name = "permissive", .network = true, .mount_cwd = true, .mount_home = true, .pass_env = true },
        { .name = "moderate", .network = true, .memory_mb = 512, .cpu_percent = 100 },
        { .name = "restrictive", .read_only_root = true, .memory_mb = 256, .cpu_percent = 50 },
};

const struct profile *profile_find(const char *name)
{
        if (!name || !*name)
                name = PROFILE_DEFAULT;
        for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
                if (strcmp(profiles[i].name, name) == 0)
                        return &profiles[i];
        return NULL;
}
