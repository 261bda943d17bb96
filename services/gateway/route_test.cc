// gw_route_parse, gw_percent_decode, gw_name_ok: every route of
// agentkernel's API by method and path, 404 vs 405, sandbox names and guest
// file paths (traversal, encoded '/', NUL, bad escapes, length limits).
#include <errno.h>
#include <string.h>

#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "services/gateway/request.h"
}

namespace {

struct Parsed {
        int rc;
        gw_route route;
        std::string msg;
};

Parsed Parse(const char *method, const std::string &url)
{
        Parsed p{};
        ak_error err{};
        p.rc = gw_route_parse(method, url.c_str(), &p.route, &err);
        p.msg = err.msg;
        return p;
}

struct RouteCase {
        const char *method, *url;
        gw_route_id id;
        const char *name, *path;
};

TEST(RouteTest, EveryRouteByMethodAndPath)
{
        const RouteCase cases[] = {
                { "GET", "/health", GW_HEALTH, "", "" },
                { "POST", "/run", GW_RUN, "", "" },
                { "POST", "/run/stream", GW_RUN_STREAM, "", "" },
                { "POST", "/batch/run", GW_BATCH_RUN, "", "" },
                { "GET", "/status", GW_STATUS, "", "" },
                { "GET", "/audit", GW_AUDIT, "", "" },
                { "GET", "/sandboxes", GW_LIST, "", "" },
                { "POST", "/sandboxes", GW_CREATE, "", "" },
                { "GET", "/sandboxes/sb-1", GW_GET, "sb-1", "" },
                { "DELETE", "/sandboxes/sb-1", GW_DELETE, "sb-1", "" },
                { "GET", "/sandboxes/by-uuid/0f8fad5b-d9cb-469f-a165-70867728950e", GW_BY_UUID,
                  "0f8fad5b-d9cb-469f-a165-70867728950e", "" },
                { "POST", "/sandboxes/a.b_c/exec", GW_EXEC, "a.b_c", "" },
                { "POST", "/sandboxes/x/start", GW_START, "x", "" },
                { "POST", "/sandboxes/x/stop", GW_STOP, "x", "" },
                { "POST", "/sandboxes/x/extend", GW_EXTEND, "x", "" },
                { "GET", "/sandboxes/x/logs", GW_LOGS, "x", "" },
                { "POST", "/sandboxes/x/files", GW_FILES_BATCH, "x", "" },
                { "GET", "/sandboxes/x/files/etc/hostname", GW_FILE_GET, "x", "/etc/hostname" },
                { "PUT", "/sandboxes/x/files/tmp/a%20b.txt", GW_FILE_PUT, "x", "/tmp/a b.txt" },
                { "DELETE", "/sandboxes/x/files/tmp/f", GW_FILE_DELETE, "x", "/tmp/f" },
                { "GET", "/snapshots", GW_SNAP_LIST, "", "" },
                { "POST", "/snapshots", GW_SNAP_TAKE, "", "" },
                { "GET", "/snapshots/py-ready", GW_SNAP_GET, "py-ready", "" },
                { "DELETE", "/snapshots/py-ready", GW_SNAP_DELETE, "py-ready", "" },
                { "POST", "/snapshots/py-ready/restore", GW_SNAP_RESTORE, "py-ready", "" },
                // Empty segments are dropped, as agentkernel's router does.
                { "GET", "//sandboxes//x//files//tmp//f//", GW_FILE_GET, "x", "/tmp/f" },
                { "GET", "/health/", GW_HEALTH, "", "" },
                // A %-encoded name decodes before the check.
                { "GET", "/sandboxes/my%2Dbox", GW_GET, "my-box", "" },
                // "..." is a name, not a traversal.
                { "GET", "/sandboxes/...", GW_GET, "...", "" },
        };
        for (const RouteCase &c : cases) {
                Parsed p = Parse(c.method, c.url);
                ASSERT_EQ(p.rc, 0) << c.method << " " << c.url << ": " << p.msg;
                EXPECT_EQ(p.route.id, c.id) << c.method << " " << c.url;
                EXPECT_STREQ(p.route.name, c.name) << c.method << " " << c.url;
                EXPECT_STREQ(p.route.path, c.path) << c.method << " " << c.url;
        }
}

TEST(RouteTest, KnownPathWithAnotherMethodIsNotSupported)
{
        const char *const cases[][2] = {
                { "POST", "/health" },          { "GET", "/run" },
                { "GET", "/run/stream" },       { "DELETE", "/sandboxes" },
                { "PUT", "/sandboxes/x" },      { "POST", "/sandboxes/x" },
                { "GET", "/sandboxes/x/exec" }, { "POST", "/sandboxes/x/logs" },
                { "GET", "/sandboxes/x/files" }, { "POST", "/sandboxes/x/files/tmp/f" },
                { "DELETE", "/sandboxes/by-uuid/u" }, { "PATCH", "/sandboxes/x/files/f" },
                { "HEAD", "/status" },           { "DELETE", "/snapshots" },
                { "POST", "/snapshots/s" },     { "GET", "/snapshots/s/restore" },
        };
        for (const auto &c : cases) {
                Parsed p = Parse(c[0], c[1]);
                EXPECT_EQ(p.rc, -ENOTSUP) << c[0] << " " << c[1];
                EXPECT_NE(p.msg.find("not allowed"), std::string::npos) << p.msg;
        }
}

TEST(RouteTest, UnknownPathsAreNotFound)
{
        const char *const cases[] = {
                "/",          "",        "/healthz",          "/run/x",   "/batch",
                "/snapshots/s/clone", "/Health", "/sandboxes/x/exec/x/y/z", "/sandboxes/x/frobnicate",
                "/sandboxes/x/y/z", "/run/stream/more",
        };
        for (const char *url : cases) {
                Parsed p = Parse("GET", url);
                EXPECT_EQ(p.rc, -ENOENT) << url;
                EXPECT_EQ(p.msg, "Not found") << url;
        }
}

TEST(RouteTest, BadSandboxNamesAreInvalid)
{
        const std::string long_name(GW_NAME_MAX + 1, 'a');
        const std::string max_name(GW_NAME_MAX, 'a');
        const char *const bad[] = {
                "/sandboxes/..",   "/sandboxes/.",     "/sandboxes/%2E%2E",  "/sandboxes/a%2Fb",
                "/sandboxes/a%00", "/sandboxes/a%zz",  "/sandboxes/a%4",     "/sandboxes/a%",
                "/sandboxes/a b",  "/sandboxes/%C3%A9", "/sandboxes/a;rm",   "/sandboxes/..%2F..",
        };
        for (const char *url : bad) {
                Parsed p = Parse("GET", url);
                EXPECT_EQ(p.rc, -EINVAL) << url;
                EXPECT_NE(p.msg.find("invalid sandbox name"), std::string::npos) << url << ": " << p.msg;
        }
        for (const char *url : { "/snapshots/..", "/snapshots/a%2Fb", "/snapshots/a b" })
                EXPECT_EQ(Parse("GET", url).rc, -EINVAL) << url;
        EXPECT_EQ(Parse("POST", "/snapshots/../restore").rc, -EINVAL);
        EXPECT_EQ(Parse("GET", "/sandboxes/" + long_name).rc, -EINVAL);
        EXPECT_EQ(Parse("POST", "/sandboxes/" + long_name + "/exec").rc, -EINVAL);
        Parsed ok = Parse("GET", "/sandboxes/" + max_name);
        EXPECT_EQ(ok.rc, 0) << ok.msg;
        EXPECT_EQ(ok.route.name, max_name);
        // The name of a file route is checked before its path.
        Parsed f = Parse("GET", "/sandboxes/../files/etc/passwd");
        EXPECT_EQ(f.rc, -EINVAL);
}

TEST(RouteTest, FilePathTraversalIsRefused)
{
        const char *const bad[] = {
                "/sandboxes/x/files/..",           "/sandboxes/x/files/tmp/../etc/passwd",
                "/sandboxes/x/files/%2E%2E/etc",   "/sandboxes/x/files/tmp/%2e%2E",
                "/sandboxes/x/files/./etc",        "/sandboxes/x/files/etc%2Fpasswd",
                "/sandboxes/x/files/..%2Fetc",     "/sandboxes/x/files/a%00b",
                "/sandboxes/x/files/a%2",          "/sandboxes/x/files/a%G1",
        };
        for (const char *url : bad) {
                Parsed p = Parse("GET", url);
                EXPECT_EQ(p.rc, -EINVAL) << url;
                EXPECT_NE(p.msg.find("invalid file path"), std::string::npos) << url << ": " << p.msg;
        }
        // Names that merely hold dots are files.
        Parsed p = Parse("GET", "/sandboxes/x/files/tmp/..hidden/a..b/.c");
        ASSERT_EQ(p.rc, 0) << p.msg;
        EXPECT_STREQ(p.route.path, "/tmp/..hidden/a..b/.c");
}

TEST(RouteTest, FilePathLengthLimit)
{
        // "/" + 4095 bytes is exactly GW_PATH_MAX: accepted; one more is not.
        std::string seg(GW_PATH_MAX - 1, 'f');
        Parsed p = Parse("GET", "/sandboxes/x/files/" + seg);
        ASSERT_EQ(p.rc, 0) << p.msg;
        EXPECT_EQ(strlen(p.route.path), (size_t)GW_PATH_MAX);
        p = Parse("GET", "/sandboxes/x/files/" + seg + "f");
        EXPECT_EQ(p.rc, -EINVAL);
        // Many segments adding up past the limit.
        std::string many;
        for (int i = 0; i < 300; i++)
                many += "/abcdefghijklmn";
        p = Parse("GET", "/sandboxes/x/files" + many);
        EXPECT_EQ(p.rc, -EINVAL);
        EXPECT_NE(p.msg.find("longer than"), std::string::npos) << p.msg;
}

TEST(RouteTest, TooManySegments)
{
        std::string url = "/sandboxes/x/files";
        for (int i = 0; i < 600; i++)
                url += "/a";
        Parsed p = Parse("GET", url);
        EXPECT_EQ(p.rc, -EINVAL);
        EXPECT_NE(p.msg.find("segments"), std::string::npos) << p.msg;
}

TEST(PercentDecodeTest, DecodesAndRefuses)
{
        char out[16];
        ASSERT_EQ(gw_percent_decode("a%20b%2f%2F", 11, out, sizeof(out)), 0);
        EXPECT_STREQ(out, "a b//");
        ASSERT_EQ(gw_percent_decode("", 0, out, sizeof(out)), 0);
        EXPECT_STREQ(out, "");
        // Only len bytes are read.
        ASSERT_EQ(gw_percent_decode("abc%41", 3, out, sizeof(out)), 0);
        EXPECT_STREQ(out, "abc");
        EXPECT_EQ(gw_percent_decode("%00", 3, out, sizeof(out)), -EINVAL);
        EXPECT_EQ(gw_percent_decode("%4", 2, out, sizeof(out)), -EINVAL);
        EXPECT_EQ(gw_percent_decode("%", 1, out, sizeof(out)), -EINVAL);
        EXPECT_EQ(gw_percent_decode("%g0", 3, out, sizeof(out)), -EINVAL);
        // A '%' cut off by len is not read past it.
        EXPECT_EQ(gw_percent_decode("a%41", 3, out, sizeof(out)), -EINVAL);
        // Output size: 3 bytes and a NUL fit in 4, not in 3; 0 never fits.
        EXPECT_EQ(gw_percent_decode("abc", 3, out, 4), 0);
        EXPECT_EQ(gw_percent_decode("abc", 3, out, 3), -EINVAL);
        EXPECT_EQ(gw_percent_decode("", 0, out, 0), -EINVAL);
        EXPECT_EQ(gw_percent_decode("%41%42", 6, out, 3), 0);
        EXPECT_STREQ(out, "AB");
}

TEST(NameTest, Charset)
{
        EXPECT_TRUE(gw_name_ok("a"));
        EXPECT_TRUE(gw_name_ok("A-Z_0.9"));
        EXPECT_TRUE(gw_name_ok("..."));
        EXPECT_FALSE(gw_name_ok(""));
        EXPECT_FALSE(gw_name_ok("."));
        EXPECT_FALSE(gw_name_ok(".."));
        EXPECT_FALSE(gw_name_ok("a/b"));
        EXPECT_FALSE(gw_name_ok("a:b"));
        EXPECT_FALSE(gw_name_ok("a\nb"));
        EXPECT_FALSE(gw_name_ok("\xc3\xa9"));
        EXPECT_TRUE(gw_name_ok(std::string(GW_NAME_MAX, 'n').c_str()));
        EXPECT_FALSE(gw_name_ok(std::string(GW_NAME_MAX + 1, 'n').c_str()));
}

}  // namespace
