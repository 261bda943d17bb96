/* Any bytes as one line to the MCP server: no crash, no leak, and a reply
 * that is itself valid JSON whenever there is one. The tools are stand-ins
 * that read their arguments as the real ones do (no gRPC). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/mcp/server.h"
#include "lib/json/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void echo(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        const struct json_value *v = json_object_get(args, "command");
        for (size_t i = 0; v && i < json_array_size(v); i++) {
                size_t len;
                const char *s = json_string(json_array_get(v, i), &len);
                if (s)
                        mcp_text_append(&res->text, s, len);
        }
        if (json_object_get(args, "fail")) {
                mcp_text_prefix(&res->text, "Error: asked to fail\n");
                res->is_error = true;
        }
        /* Big output: the head-and-tail bound. */
        if (json_object_get(args, "big"))
                for (int i = 0; i < 5000; i++)
                        mcp_text_append(&res->text, "0123456789", 10);
}

static const struct mcp_tool tools[] = {
        { "sandbox_run", "run", "{\"type\":\"object\",\"properties\":{}}", echo },
        { "sandbox_list", "list", "{\"type\":\"object\",\"properties\":{}}", echo },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const struct mcp_server_config c = { tools, 2, NULL, "ak", "0" };
        struct mcp_server *s = NULL;
        char *reply = NULL;
        size_t len = 0;

        if (mcp_server_new(&c, &s) < 0)
                return 0;
        if (mcp_server_handle(s, (const char *)data, size, &reply, &len) == 0 && reply) {
                struct json_value *v = NULL;
                if (json_parse(reply, len, &v, NULL) != 0 || memchr(reply, '\n', len))
                        abort(); /* a reply must be one line of valid JSON */
                json_value_free(v);
        }
        free(reply);
        mcp_server_free(s);
        return 0;
}
