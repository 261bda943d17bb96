// ak mcp install's merge: each client's file and shape, other entries kept,
// a re-install replaces only ours, a broken file is refused (not clobbered).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "cli/mcp/install.h"
#include "lib/json/json.h"

namespace {

struct Plan {
        int r;
        std::string path, content, err;
};

Plan Make(enum mcp_client c, bool project, const std::string &home)
{
        struct mcp_install o = {};
        o.client = c;
        o.project = project;
        o.name = "agentkernel";
        o.ak = "/opt/ak/bin/ak";
        o.home = home.c_str();
        o.cwd = "/proj";
        char path[4096];
        char *out = nullptr;
        size_t len = 0;
        struct ak_error err = {};
        Plan p;
        p.r = mcp_install_plan(&o, path, sizeof(path), &out, &len, &err);
        if (p.r == 0) {
                p.path = path;
                p.content.assign(out, len);
                free(out);
        }
        p.err = err.msg;
        return p;
}

std::string TempHome()
{
        std::string t = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") + "/homeXXXXXX";
        char *d = mkdtemp(&t[0]);
        return d ? d : "";
}

void Put(const std::string &path, const std::string &s)
{
        std::string dir = path.substr(0, path.rfind('/'));
        std::string cmd = "mkdir -p '" + dir + "'";
        ASSERT_EQ(system(cmd.c_str()), 0);
        std::ofstream(path) << s;
}

const struct json_value *Get(const struct json_value *v, const char *k1, const char *k2)
{
        v = json_object_get(v, k1);
        return v ? json_object_get(v, k2) : nullptr;
}

TEST(McpInstall, ClaudeMergesIntoClaudeJson)
{
        std::string home = TempHome();
        unsetenv("AK_SCHEDULER");
        setenv("AK_HOME", "/var/ak", 1);
        setenv("AK_TOKEN", "secret-token", 1);
        Put(home + "/.claude.json",
            "{\"numStartups\": 4, \"mcpServers\": {\"other\": {\"command\": \"x\", \"args\": [1.50]}}, \"z\": null}");
        Plan p = Make(MCP_CLIENT_CLAUDE, false, home);
        ASSERT_EQ(p.r, 0) << p.err;
        EXPECT_EQ(p.path, home + "/.claude.json");
        struct json_value *v = nullptr;
        ASSERT_EQ(json_parse(p.content.data(), p.content.size(), &v, nullptr), 0) << p.content;
        EXPECT_STREQ(json_number_text(json_object_get(v, "numStartups")), "4");
        EXPECT_STREQ(json_string(json_object_get(Get(v, "mcpServers", "other"), "command"), nullptr), "x");
        EXPECT_NE(p.content.find("1.50"), std::string::npos);  // numbers as written
        const struct json_value *e = Get(v, "mcpServers", "agentkernel");
        ASSERT_NE(e, nullptr) << p.content;
        EXPECT_STREQ(json_string(json_object_get(e, "type"), nullptr), "stdio");
        EXPECT_STREQ(json_string(json_object_get(e, "command"), nullptr), "/opt/ak/bin/ak");
        EXPECT_STREQ(json_string(json_array_get(json_object_get(e, "args"), 0), nullptr), "mcp-server");
        EXPECT_STREQ(json_string(Get(e, "env", "AK_HOME"), nullptr), "/var/ak");
        EXPECT_EQ(p.content.find("secret-token"), std::string::npos) << "AK_TOKEN must never be written";
        json_value_free(v);
        // Installing again over the result: one entry, the other kept.
        Put(home + "/.claude.json", p.content);
        Plan again = Make(MCP_CLIENT_CLAUDE, false, home);
        ASSERT_EQ(again.r, 0);
        EXPECT_EQ(again.content, p.content);
        EXPECT_EQ(Make(MCP_CLIENT_CLAUDE, true, home).path, "/proj/.mcp.json");
}

TEST(McpInstall, GeminiAndOpenCodeShapes)
{
        std::string home = TempHome();
        Plan g = Make(MCP_CLIENT_GEMINI, false, home);
        ASSERT_EQ(g.r, 0) << g.err;
        EXPECT_EQ(g.path, home + "/.gemini/settings.json");
        EXPECT_NE(g.content.find("\"mcpServers\": {\n    \"agentkernel\": {\n      \"command\": \"/opt/ak/bin/ak\""),
                  std::string::npos)
                << g.content;
        Put(home + "/.config/opencode/opencode.json", "{\"theme\":\"dark\",\"mcp\":{\"fs\":{\"type\":\"local\"}}}");
        Plan o = Make(MCP_CLIENT_OPENCODE, false, home);
        ASSERT_EQ(o.r, 0) << o.err;
        struct json_value *v = nullptr;
        ASSERT_EQ(json_parse(o.content.data(), o.content.size(), &v, nullptr), 0);
        EXPECT_STREQ(json_string(json_object_get(v, "theme"), nullptr), "dark");
        EXPECT_NE(Get(v, "mcp", "fs"), nullptr);
        const struct json_value *e = Get(v, "mcp", "agentkernel");
        ASSERT_NE(e, nullptr);
        EXPECT_STREQ(json_string(json_object_get(e, "type"), nullptr), "local");
        EXPECT_EQ(json_array_size(json_object_get(e, "command")), 2u);
        EXPECT_TRUE(json_bool(json_object_get(e, "enabled")));
        EXPECT_NE(json_object_get(e, "environment"), nullptr);
        json_value_free(v);
        EXPECT_EQ(Make(MCP_CLIENT_OPENCODE, true, home).path, "/proj/opencode.json");
}

TEST(McpInstall, CodexTomlReplacesOnlyOurTables)
{
        std::string home = TempHome();
        unsetenv("CODEX_HOME");
        setenv("AK_HOME", "/var/a\"k", 1);
        Put(home + "/.codex/config.toml", "model = \"o3\"\n\n[mcp_servers.agentkernel]\ncommand = \"old\"\n\n"
                                          "[mcp_servers.agentkernel.env]\nX = \"1\"\n\n[mcp_servers.fs]\n"
                                          "command = \"npx\"\n");
        Plan p = Make(MCP_CLIENT_CODEX, false, home);
        ASSERT_EQ(p.r, 0) << p.err;
        EXPECT_EQ(p.path, home + "/.codex/config.toml");
        EXPECT_EQ(p.content, "model = \"o3\"\n\n[mcp_servers.fs]\ncommand = \"npx\"\n\n"
                             "[mcp_servers.agentkernel]\ncommand = \"/opt/ak/bin/ak\"\nargs = [\"mcp-server\"]\n\n"
                             "[mcp_servers.agentkernel.env]\nAK_HOME = \"/var/a\\\"k\"\n");
        EXPECT_EQ(Make(MCP_CLIENT_CODEX, true, home).r, -EINVAL);
}

TEST(McpInstall, BrokenConfigIsRefusedNotClobbered)
{
        std::string home = TempHome();
        Put(home + "/.claude.json", "{\"mcpServers\": [");
        Plan p = Make(MCP_CLIENT_CLAUDE, false, home);
        EXPECT_EQ(p.r, -EINVAL);
        EXPECT_NE(p.err.find(".claude.json is not JSON"), std::string::npos) << p.err;
        Put(home + "/.claude.json", "{\"mcpServers\": 3}");
        p = Make(MCP_CLIENT_CLAUDE, false, home);
        EXPECT_EQ(p.r, -EINVAL);
        EXPECT_NE(p.err.find("\"mcpServers\" is not an object"), std::string::npos) << p.err;
}

}  // namespace
