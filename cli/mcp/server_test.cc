// The MCP server's protocol over mcp_server_handle, with stand-in tools and
// the real tool table (names and schemas as agentkernel's).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "cli/mcp/server.h"
#include "cli/mcp/text.h"
#include "cli/mcp/tools.h"
extern "C" {
#include "cli/mcp/tools_impl.h"
}
#include "lib/json/json.h"

namespace {

int calls;

void Echo(void *ctx, const struct json_value *args, struct mcp_tool_result *res)
{
        calls++;
        const struct json_value *v = json_object_get(args, "text");
        size_t len = 0;
        const char *s = v ? json_string(v, &len) : "";
        mcp_text_append(&res->text, s ? s : "", s ? len : 0);
        if (json_object_get(args, "fail")) {
                mcp_text_prefix(&res->text, "Error: command exited with code 3\n");
                res->is_error = true;
        }
}

const struct mcp_tool kTools[] = {
        { "echo", "says it back", "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}}}", Echo },
};

struct Server {
        struct mcp_server_config c = { kTools, 1, nullptr, "ak", "test" };
        struct mcp_server *s = nullptr;
        Server() { EXPECT_EQ(mcp_server_new(&c, &s), 0); }
        ~Server() { mcp_server_free(s); }
        // The reply, or "<none>".
        std::string Send(const std::string &line)
        {
                char *r = nullptr;
                size_t len = 0;
                EXPECT_EQ(mcp_server_handle(s, line.data(), line.size(), &r, &len), 0);
                if (!r)
                        return "<none>";
                std::string out(r, len);
                free(r);
                return out;
        }
};

TEST(McpServer, ProtocolFaultsAreJsonRpcErrors)
{
        Server s;
        EXPECT_NE(s.Send("{not json").find("\"id\":null,\"error\":{\"code\":-32700"), std::string::npos);
        EXPECT_NE(s.Send("42").find("\"code\":-32600"), std::string::npos);
        EXPECT_NE(s.Send("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}").find("\"id\":1,\"error\":{\"code\":-32600"),
                  std::string::npos);
        EXPECT_NE(s.Send("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}").find("\"id\":null,\"error\":{\"code\":-32600"),
                  std::string::npos);
        EXPECT_NE(s.Send("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":7}").find("-32600"), std::string::npos);
        EXPECT_NE(s.Send("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"resources/list\"}")
                          .find("\"id\":\"x\",\"error\":{\"code\":-32601"),
                  std::string::npos);
        EXPECT_NE(s.Send("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":5}}").find("-32602"),
                  std::string::npos);
        EXPECT_NE(s.Send("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\"}}")
                          .find("\"code\":-32602,\"message\":\"Unknown tool: nope"),
                  std::string::npos);
        EXPECT_NE(s.Send("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
                         "\"arguments\":[1]}}")
                          .find("-32602"),
                  std::string::npos);
        EXPECT_NE(s.Send("{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\",\"params\":{\"cursor\":\"p2\"}}")
                          .find("-32602"),
                  std::string::npos);
        EXPECT_NE(s.Send("[]").find("-32600"), std::string::npos);
}

TEST(McpServer, NotificationsAndResponsesGetNoReply)
{
        Server s;
        calls = 0;
        EXPECT_EQ(s.Send("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"), "<none>");
        EXPECT_EQ(s.Send("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":1}}"),
                  "<none>");
        // A notification of tools/call runs nothing and answers nothing.
        EXPECT_EQ(s.Send("{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"}}"), "<none>");
        EXPECT_EQ(calls, 0);
        EXPECT_EQ(s.Send("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}"), "<none>");
        EXPECT_EQ(s.Send("[{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]"), "<none>");
}

TEST(McpServer, InitializeNegotiatesTheVersion)
{
        Server s;
        for (const char *v : { "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25" }) {
                std::string r = s.Send(std::string("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                                                   "{\"protocolVersion\":\"") + v + "\"}}");
                EXPECT_NE(r.find(std::string("\"protocolVersion\":\"") + v + "\""), std::string::npos) << r;
                EXPECT_STREQ(mcp_server_protocol_version(s.s), v);
        }
        std::string r = s.Send("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                               "{\"protocolVersion\":\"1999-01-01\"}}");
        EXPECT_NE(r.find("\"protocolVersion\":\"2025-11-25\""), std::string::npos) << r;
        EXPECT_NE(r.find("\"capabilities\":{\"tools\":{\"listChanged\":false}}"), std::string::npos) << r;
        EXPECT_EQ(s.Send("{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}"),
                  "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"result\":{}}");
}

TEST(McpServer, ToolErrorsAreResultsWithIsError)
{
        Server s;
        std::string ok = s.Send("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
                                "\"arguments\":{\"text\":\"hi\"}}}");
        EXPECT_EQ(ok, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}}");
        std::string bad = s.Send("{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
                                 "\"arguments\":{\"text\":\"out\",\"fail\":true}}}");
        EXPECT_EQ(bad, "{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":{\"content\":[{\"type\":\"text\",\"text\":"
                       "\"Error: command exited with code 3\\nout\"}],\"isError\":true}}");
}

TEST(McpServer, BatchesAnswerEachRequest)
{
        Server s;
        EXPECT_EQ(s.Send("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"method\":\"n\"},"
                         "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"}]"),
                  "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}},{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":"
                  "-32601,\"message\":\"Method not found: nope\"}}]");
}

std::string Render(const std::string &in, size_t chunk)
{
        struct mcp_text *t = (struct mcp_text *)malloc(sizeof(*t));
        mcp_text_init(t);
        for (size_t i = 0; i < in.size(); i += chunk)
                mcp_text_append(t, in.data() + i, std::min(chunk, in.size() - i));
        char *out = nullptr;
        size_t len = 0;
        EXPECT_EQ(mcp_text_render(t, &out, &len), 0);
        std::string s(out, len);
        free(out);
        free(t);
        return s;
}

TEST(McpText, HeadAndTailAsAgentkernel)
{
        std::string small(16000, 'a');
        EXPECT_EQ(Render(small, 7), small);
        std::string big;
        for (int i = 0; i < 100000; i++)
                big += (char)('a' + i % 26);
        // agentkernel: head 8000, "\n\n... [N bytes truncated] ...\n\n", tail 8000.
        std::string want = big.substr(0, 8000) + "\n\n... [84000 bytes truncated] ...\n\n" + big.substr(100000 - 8000);
        for (size_t chunk : { (size_t)1, (size_t)333, (size_t)8000, (size_t)16001, (size_t)100000 })
                EXPECT_EQ(Render(big, chunk), want) << "chunk " << chunk;
        EXPECT_EQ(Render(big.substr(0, 16001), 100), big.substr(0, 8000) + "\n\n... [1 bytes truncated] ...\n\n" +
                                                          big.substr(16001 - 8000, 8000));
}

TEST(McpTools, AgentkernelsNamesAndSchemas)
{
        const char *want[] = { "sandbox_run", "sandbox_create", "sandbox_exec", "sandbox_list", "sandbox_remove",
                               "sandbox_file_write", "sandbox_file_read", "sandbox_write_files", "sandbox_start",
                               "sandbox_stop", "sandbox_extend_ttl", "sandbox_exec_detach", "sandbox_exec_status",
                               "sandbox_exec_logs", "sandbox_exec_kill", "sandbox_exec_list", "snapshot_list",
                               "snapshot_take", "snapshot_get", "snapshot_delete", "snapshot_restore" };
        ASSERT_EQ(mcp_tools_count, sizeof(want) / sizeof(want[0]));
        for (size_t i = 0; i < mcp_tools_count; i++) {
                EXPECT_STREQ(mcp_tools_table[i].name, want[i]);
                struct json_value *v = nullptr;
                const char *schema = mcp_tools_table[i].input_schema;
                ASSERT_EQ(json_parse(schema, strlen(schema), &v, nullptr), 0) << want[i] << ": " << schema;
                EXPECT_STREQ(json_string(json_object_get(v, "type"), nullptr), "object");
                EXPECT_EQ(json_value_type(json_object_get(v, "properties")), JSON_OBJECT);
                json_value_free(v);
        }
}

// sandbox_extend_ttl's "by" is checked before any scheduler call: these fail
// with no stack (mcp_tools_new connects only on a first call).
TEST(McpTools, ExtendTtlRefusesBadDurations)
{
        const struct mcp_tool *ext = nullptr;
        for (size_t i = 0; i < mcp_tools_count; i++)
                if (strcmp(mcp_tools_table[i].name, "sandbox_extend_ttl") == 0)
                        ext = &mcp_tools_table[i];
        ASSERT_NE(ext, nullptr);
        struct mcp_tools *t = nullptr;
        ASSERT_EQ(mcp_tools_new(&t), 0);
        for (const char *by : { "", "h", "1x", "1hh", "-1h", "0s", "0", "31d", "2592001", "99999999999999999999d" }) {
                std::string args = std::string("{\"name\":\"x\",\"by\":\"") + by + "\"}";
                struct json_value *v = nullptr;
                ASSERT_EQ(json_parse(args.data(), args.size(), &v, nullptr), 0);
                struct mcp_tool_result *res = (struct mcp_tool_result *)calloc(1, sizeof(*res));
                mcp_text_init(&res->text);
                ext->call(t, v, res);
                char *out = nullptr;
                size_t len = 0;
                ASSERT_EQ(mcp_text_render(&res->text, &out, &len), 0);
                EXPECT_TRUE(res->is_error) << by;
                EXPECT_EQ(std::string(out, len), std::string("Error: by ") + by +
                                                          ": want a duration such as 30m, 1h or 2d (1 second to 30 days)");
                free(out);
                free(res);
                json_value_free(v);
        }
        mcp_tools_free(t);
}

// Arguments of the detached and snapshot tools are checked before any
// scheduler call (no stack here), with agentkernel's "X is required".
TEST(McpTools, DetachedAndSnapshotArgumentErrors)
{
        struct Case {
                const char *tool, *args, *want;
        } cases[] = {
                { "sandbox_exec_detach", "{\"command\":[\"true\"]}", "Error: name is required" },
                { "sandbox_exec_detach", "{\"name\":\"x\"}", "Error: command is required" },
                { "sandbox_exec_detach", "{\"name\":\"x\",\"command\":[\"true\"],\"sudo\":\"yes\"}",
                  "Error: sudo must be a boolean, not string" },
                { "sandbox_exec_status", "{}", "Error: id is required" },
                { "sandbox_exec_kill", "{\"id\":7}", "Error: id must be a string, not number" },
                { "sandbox_exec_logs", "{\"id\":\"a\",\"stream\":\"both\"}",
                  "Error: stream both: want stdout or stderr" },
                { "sandbox_exec_list", "{\"name\":[]}", "Error: name must be a string, not array" },
                { "snapshot_take", "{\"name\":\"s\"}", "Error: sandbox is required" },
                { "snapshot_take", "{\"sandbox\":\"x\"}", "Error: name is required" },
                { "snapshot_get", "{}", "Error: name is required" },
                { "snapshot_delete", "{}", "Error: name is required" },
                { "snapshot_restore", "{\"name\":\"s\",\"as_name\":false}",
                  "Error: as_name must be a string, not boolean" },
        };
        struct mcp_tools *t = nullptr;
        ASSERT_EQ(mcp_tools_new(&t), 0);
        for (const Case &c : cases) {
                const struct mcp_tool *tool = nullptr;
                for (size_t i = 0; i < mcp_tools_count; i++)
                        if (strcmp(mcp_tools_table[i].name, c.tool) == 0)
                                tool = &mcp_tools_table[i];
                ASSERT_NE(tool, nullptr) << c.tool;
                struct json_value *v = nullptr;
                ASSERT_EQ(json_parse(c.args, strlen(c.args), &v, nullptr), 0);
                struct mcp_tool_result *res = (struct mcp_tool_result *)calloc(1, sizeof(*res));
                mcp_text_init(&res->text);
                tool->call(t, v, res);
                char *out = nullptr;
                size_t len = 0;
                ASSERT_EQ(mcp_text_render(&res->text, &out, &len), 0);
                EXPECT_TRUE(res->is_error) << c.tool << " " << c.args;
                EXPECT_EQ(std::string(out, len), c.want) << c.tool << " " << c.args;
                free(out);
                free(res);
                json_value_free(v);
        }
        mcp_tools_free(t);
}

// agentkernel's `secrets` / `secret_files` on sandbox_run and sandbox_create
// go into the SandboxSpec as the gateway puts them.
TEST(McpTools, SecretsIntoTheSpec)
{
        const char args[] = "{\"secrets\":[\"API_TOKEN:api.example.com\",\"GH:gh.example:X-Token\"],"
                            "\"secret_files\":[\"GH:/home/u/.tok\"]}";
        struct json_value *v = nullptr;
        ASSERT_EQ(json_parse(args, strlen(args), &v, nullptr), 0);
        struct mcp_tool_result *res = (struct mcp_tool_result *)calloc(1, sizeof(*res));
        mcp_text_init(&res->text);
        Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
        ASSERT_TRUE(mcp_arg_secrets(v, &spec, res));
        ASSERT_EQ(spec.n_secrets, 2u);
        EXPECT_STREQ(spec.secrets[0], "API_TOKEN:api.example.com");
        EXPECT_STREQ(spec.secrets[1], "GH:gh.example:X-Token");
        ASSERT_EQ(spec.n_secret_files, 1u);
        EXPECT_STREQ(spec.secret_files[0], "GH:/home/u/.tok");
        mcp_spec_secrets_free(&spec);
        EXPECT_EQ(spec.n_secrets, 0u);
        char *out = nullptr;
        size_t len = 0;
        ASSERT_EQ(mcp_text_render(&res->text, &out, &len), 0);
        free(out);
        free(res);
        json_value_free(v);
        for (const char *tool : { "sandbox_run", "sandbox_create" }) {
                bool found = false;
                for (size_t i = 0; i < mcp_tools_count; i++)
                        if (strcmp(mcp_tools_table[i].name, tool) == 0)
                                found = strstr(mcp_tools_table[i].input_schema, "\"secrets\":{\"type\":\"array\"") &&
                                        strstr(mcp_tools_table[i].input_schema, "\"secret_files\":{");
                EXPECT_TRUE(found) << tool;
        }
}

// Refused before any scheduler call (no stack here); the value of a
// KEY=value entry is never echoed.
TEST(McpTools, SecretsArgumentErrors)
{
        struct Case {
                const char *tool, *args, *want;
        } cases[] = {
                { "sandbox_create", "{\"name\":\"x\",\"secrets\":[\"OK:a.example\",\"K=sekrit:a.example\"]}",
                  "Error: secrets[1]: the KEY=value form is not accepted (values never cross the API): store the "
                  "value on the executor's node (ak secret set KEY) and give KEY:host[:header]" },
                { "sandbox_run", "{\"command\":[\"true\"],\"secrets\":[\"K=sekrit:a.example\"]}",
                  "Error: secrets[0]: the KEY=value form is not accepted (values never cross the API): store the "
                  "value on the executor's node (ak secret set KEY) and give KEY:host[:header]" },
                { "sandbox_create", "{\"name\":\"x\",\"secrets\":\"K:a.example\"}",
                  "Error: secrets must be an array of strings, not string" },
                { "sandbox_run", "{\"command\":[\"true\"],\"secret_files\":[1]}",
                  "Error: secret_files[0] must be a string without NUL bytes" },
                { "sandbox_run", "{\"command\":[\"true\"],\"secrets\":[\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\","
                  "\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\","
                  "\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\",\"a:b\","
                  "\"a:b\"]}",
                  "Error: secrets has 33 entries; at most 32" },
        };
        struct mcp_tools *t = nullptr;
        ASSERT_EQ(mcp_tools_new(&t), 0);
        for (const Case &c : cases) {
                const struct mcp_tool *tool = nullptr;
                for (size_t i = 0; i < mcp_tools_count; i++)
                        if (strcmp(mcp_tools_table[i].name, c.tool) == 0)
                                tool = &mcp_tools_table[i];
                ASSERT_NE(tool, nullptr) << c.tool;
                struct json_value *v = nullptr;
                ASSERT_EQ(json_parse(c.args, strlen(c.args), &v, nullptr), 0);
                struct mcp_tool_result *res = (struct mcp_tool_result *)calloc(1, sizeof(*res));
                mcp_text_init(&res->text);
                tool->call(t, v, res);
                char *out = nullptr;
                size_t len = 0;
                ASSERT_EQ(mcp_text_render(&res->text, &out, &len), 0);
                EXPECT_TRUE(res->is_error) << c.args;
                EXPECT_EQ(std::string(out, len), c.want) << c.args;
                EXPECT_EQ(std::string(out, len).find("sekrit"), std::string::npos);
                free(out);
                free(res);
                json_value_free(v);
        }
        mcp_tools_free(t);
}

}  // namespace
