/* The tool handlers (tools.c) that schemas.c's table points at. Private to cli/mcp. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "cli/mcp/server.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/sandbox.pb-c.h"

#define ARGV_MAX 4096
#define ENV_MAX 256
#define SECRETS_MAX 32  /* the executor's INJECT_SECRETS_MAX */

struct mcp_tools {
        struct rpc_channel *ch;         /* NULL until the first call connects */
        struct rpc_call_options o;
};

/* A tool error: res's text becomes "Error: <message>" (agentkernel's form). */
void mcp_fail(struct mcp_tool_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Arguments. Each returns false with res failed ("name is required", "sudo
 * must be a boolean, not string") when the argument is missing but required,
 * or of the wrong type. Strings point into args; mcp_arg_strings' array is
 * malloc'd (free it; NULL when absent). */
bool mcp_arg_str(const struct json_value *args, const char *key, bool required, const char **ret,
                 struct mcp_tool_result *res);
bool mcp_arg_bool(const struct json_value *args, const char *key, bool def, bool *ret,
                  struct mcp_tool_result *res);
bool mcp_arg_strings(const struct json_value *args, const char *key, bool required, size_t max, char ***ret,
                     size_t *ret_n, struct mcp_tool_result *res);

/* agentkernel's `secrets` ("KEY:host[:header]") and `secret_files`
 * ("KEY[:path]") into spec->secrets / secret_files (malloc'd arrays pointing
 * into args: mcp_spec_secrets_free), as the gateway takes them; the
 * KEY=value form is refused without echoing it. The executor checks the
 * rest. False with res failed (nothing left to free). */
bool mcp_arg_secrets(const struct json_value *args, Ak__V1__SandboxSpec *spec, struct mcp_tool_result *res);
void mcp_spec_secrets_free(Ak__V1__SandboxSpec *spec);

/* A unary scheduler call (connecting first); false with res failed. */
bool mcp_unary(struct mcp_tools *t, const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp,
               struct mcp_tool_result *res);


void mcp_tool_run(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_create(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_exec(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_list(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_remove(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_file_write(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_file_read(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_write_files(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_start(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_stop(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_extend_ttl(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_exec_detach(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_exec_status(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_exec_logs(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_exec_kill(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_exec_list(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_snapshot_list(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_snapshot_take(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_snapshot_get(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_snapshot_delete(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
void mcp_tool_snapshot_restore(void *ctx, const struct json_value *args, struct mcp_tool_result *res);
