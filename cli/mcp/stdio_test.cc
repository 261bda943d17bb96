// A real `ak mcp-server` over stdin/stdout: protocol faults, a huge line,
// wrong types, tool errors with no scheduler to reach, stdout holding only
// protocol lines, and a clean exit at end of input. The server's input is a
// file, so every case is bounded by `timeout`.
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lib/json/json.h"

namespace {

struct ServeResult {
        int status;
        std::vector<std::string> lines;  // stdout
        std::string err;
};

std::string Slurp(const std::string &path)
{
        std::ifstream f(path, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
}

ServeResult Serve(const std::string &input)
{
        std::string dir = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";
        std::string in = dir + "/in", out = dir + "/out", err = dir + "/err";
        std::ofstream(in, std::ios::binary) << input;
        // A scheduler address nobody listens on: tools fail, fast.
        std::string cmd = "AK_SCHEDULER=unix:" + dir + "/nobody.sock AK_HOME=" + dir +
                          "/home timeout 60 cli/ak mcp-server <" + in + " >" + out + " 2>" + err;
        ServeResult r;
        r.status = system(cmd.c_str());
        std::stringstream ss(Slurp(out));
        for (std::string line; std::getline(ss, line);)
                r.lines.push_back(line);
        r.err = Slurp(err);
        return r;
}

bool IsJson(const std::string &s)
{
        struct json_value *v = nullptr;
        int r = json_parse(s.data(), s.size(), &v, nullptr);
        json_value_free(v);
        return r == 0;
}

const char kInit[] = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
                     "\"2024-11-05\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}\n"
                     "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";

TEST(McpStdio, FaultsAnsweredAndTheServerCarriesOn)
{
        std::string in = kInit;
        in += "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\n";                     // malformed
        in += "\n   \r\n";                                                        // blank lines: ignored
        in += "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"sandbox_exec\","
              "\"arguments\":{\"name\":\"x\",\"command\":\"ls\"}}}\r\n";            // wrong type, CRLF
        in += "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"no/such\"}\n";
        in += "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"sandbox_list\"}}\n";
        in += "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\"}";                // last line, no newline
        ServeResult r = Serve(in);
        EXPECT_EQ(r.status, 0) << r.err;
        ASSERT_EQ(r.lines.size(), 6u) << r.err;
        for (const auto &l : r.lines)
                EXPECT_TRUE(IsJson(l)) << l;
        EXPECT_NE(r.lines[0].find("\"protocolVersion\":\"2024-11-05\""), std::string::npos) << r.lines[0];
        EXPECT_NE(r.lines[1].find("\"id\":null,\"error\":{\"code\":-32700"), std::string::npos) << r.lines[1];
        EXPECT_NE(r.lines[2].find("\"id\":2,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"Error: command "
                                  "must be an array of strings, not string\"}],\"isError\":true}"),
                  std::string::npos)
                << r.lines[2];
        EXPECT_NE(r.lines[3].find("\"id\":3,\"error\":{\"code\":-32601"), std::string::npos) << r.lines[3];
        EXPECT_NE(r.lines[4].find("\"id\":4,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"Error: "),
                  std::string::npos)
                << r.lines[4];
        EXPECT_NE(r.lines[4].find("\"isError\":true"), std::string::npos) << r.lines[4];
        EXPECT_EQ(r.lines[5], "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}");
}

TEST(McpStdio, HugeLineRefusedThenServing)
{
        std::string in = kInit;
        in += "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"pad\":\"";
        in += std::string((size_t)20 << 20, 'x');
        in += "\"}}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n";
        ServeResult r = Serve(in);
        EXPECT_EQ(r.status, 0) << r.err;
        ASSERT_EQ(r.lines.size(), 3u) << r.err;
        EXPECT_NE(r.lines[1].find("\"code\":-32700,\"message\":\"Parse error: message longer than 16 MiB"),
                  std::string::npos)
                << r.lines[1];
        EXPECT_EQ(r.lines[2], "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}");
}

TEST(McpStdio, StdoutHoldsOnlyProtocol)
{
        // The tool call tries (and fails) to reach a scheduler; whatever the
        // client code prints goes to stderr, never between protocol lines.
        std::string in = kInit;
        in += "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"sandbox_run\","
              "\"arguments\":{\"command\":[\"true\"]}}}\n";
        ServeResult r = Serve(in);
        EXPECT_EQ(r.status, 0);
        ASSERT_EQ(r.lines.size(), 2u);
        for (const auto &l : r.lines)
                EXPECT_TRUE(IsJson(l)) << l;
        EXPECT_NE(r.err.find("serving on stdio"), std::string::npos) << r.err;
}

}  // namespace
