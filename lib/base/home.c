#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/home.h"

static int put(char ret[PATH_MAX], const char *dir, const char *suffix)
{
        char buf[PATH_MAX];
        int n = snprintf(buf, sizeof(buf), "%s%s", dir, suffix);

        if (n < 0 || (size_t)n >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(ret, buf, (size_t)n + 1);
        return 0;
}

int ak_home(char ret[PATH_MAX])
{
        const char *env = getenv("AK_HOME");
        struct passwd pw, *found = NULL;
        char pwbuf[4096];

        if (env && *env)
                return put(ret, env, "");
        env = getenv("HOME");
        if (env && *env)
                return put(ret, env, "/.agentkernel");
        if (getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &found) == 0 && found && found->pw_dir &&
            found->pw_dir[0] == '/')
                return put(ret, found->pw_dir, "/.agentkernel");
        return -ENOENT;
}
