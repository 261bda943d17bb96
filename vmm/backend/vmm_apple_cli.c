/* The apple backend's conversations with the `container` CLI: running it,
 * reading `container inspect`, naming containers. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base/cleanup.h"
#include "lib/base/proc.h"
#include "lib/json/json.h"
#include "vmm/backend/vmm_apple.h"
#include "vmm/backend/vmm_apple_impl.h"

#define MAX_ARGS 24

int apple_cli_run(const char *cli, const char *const *args, bool answer_yes, int timeout_ms, int *ret_status,
                  char **ret_out, struct ak_error *err)
{
        const char *argv[MAX_ARGS + 5];
        size_t n = 0;

        /* proc_run gives the child /dev/null as stdin: a "Y" goes through
         * sh, as agentkernel does it (`echo 'Y' | container system start`). */
        if (answer_yes) {
                argv[n++] = "/bin/sh";
                argv[n++] = "-c";
                argv[n++] = "echo Y | \"$0\" \"$@\"";
        }
        argv[n++] = cli;
        for (size_t i = 0; args[i]; i++) {
                if (i == MAX_ARGS)
                        return ak_error_set(err, -E2BIG, "container: too many arguments");
                argv[n++] = args[i];
        }
        argv[n] = NULL;
        struct proc_opts o = { .argv = argv, .timeout_ms = timeout_ms, .max_output = APPLE_INSPECT_MAX };
        int r = proc_run(&o, ret_status, ret_out, err);
        if (r == -ETIMEDOUT)
                ak_error_wrap(err, "container %s: no answer within %d ms", args[0], timeout_ms);
        return r;
}

int apple_inspect_state(const char *json, size_t len, char *buf, size_t size)
{
        struct json_value *v = NULL;
        int r = -EINVAL;

        if (size == 0 || json_parse(json, len, &v, NULL) < 0)
                return -EINVAL;
        if (json_value_type(v) != JSON_ARRAY)
                goto out;
        if (json_array_size(v) == 0) {
                r = -ENOENT;
                goto out;
        }
        const struct json_value *c = json_array_get(v, 0), *s = NULL;
        if (json_value_type(c) == JSON_OBJECT)
                s = json_object_get(c, "status");
        if (s && json_value_type(s) == JSON_OBJECT)
                s = json_object_get(s, "state");
        if (!s || json_value_type(s) != JSON_STRING)
                goto out;
        size_t n;
        const char *str = json_string(s, &n);
        if (n >= size)
                n = size - 1;
        for (size_t i = 0; i < n; i++)
                buf[i] = (unsigned char)str[i] < 0x20 ? '?' : str[i];
        buf[n] = 0;
        r = 0;
out:
        json_value_free(v);
        return r;
}

void apple_container_name(const char *vsock_uds, char buf[20])
{
        /* FNV-1a, 64 bits: one name per VM directory. */
        uint64_t h = 0xcbf29ce484222325ull;
        for (const unsigned char *p = (const unsigned char *)vsock_uds; *p; p++)
                h = (h ^ *p) * 0x100000001b3ull;
        snprintf(buf, 20, "ak-%016llx", (unsigned long long)h);
}
