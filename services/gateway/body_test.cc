// The JSON bodies of agentkernel's routes (body.c): what each decoder takes,
// what it refuses and the member its error names; durations and ?label=.
#include <errno.h>
#include <string.h>

#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "services/gateway/request.h"
}

namespace {

typedef int (*decode_fn)(const char *, size_t, gw_req *, ak_error *);

// Decodes body with fn; on success the request is freed at scope exit.
class Decoded {
      public:
        Decoded(decode_fn fn, gw_route_id id, const std::string &body) : id_(id)
        {
                memset(&req, 0xa5, sizeof(req));   // the decoder zeroes it
                rc = fn(body.data(), body.size(), &req, &err);
        }
        ~Decoded()
        {
                if (rc == 0)
                        gw_req_free(id_, &req);
        }
        std::string msg() const { return err.msg; }

        int rc;
        gw_req req;
        ak_error err{};

      private:
        gw_route_id id_;
};

// Every decoder refuses what is not one JSON object, with "Invalid JSON".
TEST(BodyTest, NotAnObjectIsInvalidJson)
{
        const struct {
                decode_fn fn;
                gw_route_id id;
        } decoders[] = {
                { gw_run_decode, GW_RUN },           { gw_create_decode, GW_CREATE },
                { gw_exec_decode, GW_EXEC },         { gw_file_decode, GW_FILE_PUT },
                { gw_files_decode, GW_FILES_BATCH }, { gw_batch_decode, GW_BATCH_RUN },
                { gw_extend_decode, GW_EXTEND },     { gw_snapshot_decode, GW_SNAP_TAKE },
        };
        const char *const bodies[] = { "", "{", "[]", "\"x\"", "1", "null", "{\"a\":}", "{} {}", "{\"a\":1,}" };
        for (const auto &d : decoders)
                for (const char *b : bodies) {
                        Decoded r(d.fn, d.id, b);
                        EXPECT_EQ(r.rc, -EINVAL) << "body '" << b << "'";
                        EXPECT_EQ(r.msg().rfind("Invalid JSON", 0), 0u) << "body '" << b << "': " << r.msg();
                        EXPECT_EQ(r.req.tree, nullptr);
                }
}

TEST(BodyTest, Run)
{
        Decoded r(gw_run_decode, GW_RUN,
                  R"({"command":["sh","-c","echo hi"],"image":"alpine","profile":"restrictive","fast":false,"x":[1]})");
        ASSERT_EQ(r.rc, 0) << r.msg();
        ASSERT_EQ(r.req.run.argc, 3u);
        EXPECT_STREQ(r.req.run.argv[0], "sh");
        EXPECT_STREQ(r.req.run.argv[2], "echo hi");
        EXPECT_EQ(r.req.run.argv[3], nullptr);
        EXPECT_STREQ(r.req.run.image, "alpine");
        EXPECT_STREQ(r.req.run.profile, "restrictive");

        Decoded nulls(gw_run_decode, GW_RUN, R"({"command":["true"],"image":null,"profile":null})");
        ASSERT_EQ(nulls.rc, 0) << nulls.msg();
        EXPECT_EQ(nulls.req.run.image, nullptr);

        const char *const bad[][2] = {
                { "{}", "command is required" },
                { R"({"command":[]})", "command is required" },
                { R"({"command":"ls"})", "command: expected an array of strings, got string" },
                { R"({"command":["ls",1]})", "command[1]: expected a string, got number" },
                { R"({"command":["a\u0000b"]})", "command[0]: must not contain NUL" },
                { R"({"command":["ls"],"image":7})", "image: expected a string, got number" },
                { R"({"command":["ls"],"fast":"yes"})", "fast: expected a boolean, got string" },
        };
        for (const auto &b : bad) {
                Decoded d(gw_run_decode, GW_RUN, b[0]);
                EXPECT_EQ(d.rc, -EINVAL) << b[0];
                EXPECT_NE(d.msg().find(b[1]), std::string::npos) << b[0] << ": " << d.msg();
        }
        std::string many = R"({"command":[)";
        for (int i = 0; i <= GW_ARGV_MAX; i++)
                many += std::string(i ? "," : "") + "\"a\"";
        many += "]}";
        Decoded d(gw_run_decode, GW_RUN, many);
        EXPECT_EQ(d.rc, -EINVAL);
        EXPECT_NE(d.msg().find("more than"), std::string::npos) << d.msg();
}

TEST(BodyTest, Create)
{
        Decoded r(gw_create_decode, GW_CREATE,
                  R"({"name":"sb1","image":"python:3.12-alpine","vcpus":2,"memory_mb":512,"ttl":"30m",)"
                  R"("labels":{"team":"a","env":"ci"}})");
        ASSERT_EQ(r.rc, 0) << r.msg();
        const gw_create_req &c = r.req.create;
        EXPECT_STREQ(c.name, "sb1");
        EXPECT_STREQ(c.image, "python:3.12-alpine");
        EXPECT_EQ(c.vcpus, 2u);
        EXPECT_EQ(c.memory_mb, 512u);
        EXPECT_EQ(c.ttl_seconds, 1800u);
        ASSERT_EQ(c.n_labels, 2u);
        EXPECT_STREQ(c.labels[0].key, "team");
        EXPECT_STREQ(c.labels[1].value, "ci");

        Decoded s(gw_create_decode, GW_CREATE, R"({"name":"sb1","ttl_seconds":90})");
        ASSERT_EQ(s.rc, 0) << s.msg();
        EXPECT_EQ(s.req.create.ttl_seconds, 90u);
        EXPECT_EQ(s.req.create.n_labels, 0u);

        const char *const bad[][2] = {
                { "{}", "name is required" },
                { R"({"name":"../x"})", "name: '../x' is not" },
                { R"({"name":""})", "name: '' is not" },
                { R"({"name":"a","vcpus":-1})", "vcpus: expected an integer" },
                { R"({"name":"a","vcpus":1.5})", "vcpus: expected an integer" },
                { R"({"name":"a","memory_mb":4294967296})", "memory_mb: expected an integer" },
                { R"({"name":"a","vcpus":"2"})", "vcpus: expected a number, got string" },
                { R"({"name":"a","ttl":"forever"})", "ttl: 'forever' is not a duration" },
                { R"({"name":"a","labels":["x"]})", "labels: expected an object of strings" },
                { R"({"name":"a","labels":{"k":1}})", "labels.k: expected a string, got number" },
                { R"({"name":"a","labels":{"":"v"}})", "labels: a key is empty" },
                { R"({"name":"a","volumes":["/h:/g"]})", "volumes: not supported" },
                { R"({"name":"a","secrets":{"K":"V"}})", "secrets: expected an array of strings" },
                { R"({"name":"a","secrets":["K:api.test",1]})", "secrets[1]: expected a string" },
                { R"({"name":"a","secrets":["K=sk-live-zz:api.test"]})", "secrets[0]: the KEY=value form is not" },
                { R"({"name":"a","secret_files":"K"})", "secret_files: expected an array of strings" },
                { R"({"name":"a","source_url":"https://x"})", "source_url: not supported" },
        };
        for (const auto &b : bad) {
                Decoded d(gw_create_decode, GW_CREATE, b[0]);
                EXPECT_EQ(d.rc, -EINVAL) << b[0];
                EXPECT_NE(d.msg().find(b[1]), std::string::npos) << b[0] << ": " << d.msg();
        }
        // agentkernel's secrets and secret_files become SandboxSpec's.
        Decoded sec(gw_create_decode, GW_CREATE,
                  R"({"name":"a","secrets":["K:api.test","L:b.test:X-Key"],"secret_files":["F","G:/tmp/g"]})");
        ASSERT_EQ(sec.rc, 0) << sec.msg();
        ASSERT_EQ(sec.req.create.n_secrets, 2u);
        EXPECT_STREQ(sec.req.create.secrets[0], "K:api.test");
        EXPECT_STREQ(sec.req.create.secrets[1], "L:b.test:X-Key");
        ASSERT_EQ(sec.req.create.n_secret_files, 2u);
        EXPECT_STREQ(sec.req.create.secret_files[1], "G:/tmp/g");
        // The refusal of an inline value does not echo it.
        Decoded v(gw_create_decode, GW_CREATE, R"({"name":"a","secrets":["K=sk-live-zz:api.test"]})");
        EXPECT_EQ(v.msg().find("sk-live-zz"), std::string::npos) << v.msg();
        // Unsupported members that are null are absent, as serde reads them.
        Decoded n(gw_create_decode, GW_CREATE, R"({"name":"a","volumes":null,"secrets":null})");
        EXPECT_EQ(n.rc, 0) << n.msg();
}

TEST(BodyTest, Exec)
{
        Decoded r(gw_exec_decode, GW_EXEC,
                  R"({"command":["env"],"env":{"A":"1","B":"x=y"},"workdir":"/tmp","sudo":true})");
        ASSERT_EQ(r.rc, 0) << r.msg();
        ASSERT_EQ(r.req.exec.n_env, 2u);
        EXPECT_STREQ(r.req.exec.env[0], "A=1");
        EXPECT_STREQ(r.req.exec.env[1], "B=x=y");
        EXPECT_STREQ(r.req.exec.workdir, "/tmp");
        EXPECT_TRUE(r.req.exec.sudo);

        const char *const bad[][2] = {
                { R"({"command":["env"],"env":{"A=B":"1"}})", "env: a key holds '='" },
                { R"({"command":["env"],"env":{"A":"1","B=C":"2"}})", "env: a key holds '='" },
                { R"({"command":["env"],"env":{"A":"\u0000"}})", "env.A: must not contain NUL" },
                { R"({"command":["env"],"env":"A=1"})", "env: expected an object of strings" },
                { R"({"command":["env"],"sudo":1})", "sudo: expected a boolean" },
                { R"({"env":{}})", "command is required" },
        };
        for (const auto &b : bad) {
                Decoded d(gw_exec_decode, GW_EXEC, b[0]);
                EXPECT_EQ(d.rc, -EINVAL) << b[0];
                EXPECT_NE(d.msg().find(b[1]), std::string::npos) << b[0] << ": " << d.msg();
        }
}

TEST(BodyTest, File)
{
        Decoded u(gw_file_decode, GW_FILE_PUT, R"({"content":"a\u0000b\n"})");
        ASSERT_EQ(u.rc, 0) << u.msg();
        ASSERT_EQ(u.req.file.len, 4u);
        EXPECT_EQ(memcmp(u.req.file.content, "a\0b\n", 4), 0);

        Decoded e(gw_file_decode, GW_FILE_PUT, R"({"content":"","encoding":"utf-8"})");
        ASSERT_EQ(e.rc, 0) << e.msg();
        EXPECT_EQ(e.req.file.len, 0u);

        Decoded b(gw_file_decode, GW_FILE_PUT, R"({"content":"AP8Q","encoding":"base64"})");
        ASSERT_EQ(b.rc, 0) << b.msg();
        ASSERT_EQ(b.req.file.len, 3u);
        EXPECT_EQ(memcmp(b.req.file.content, "\x00\xff\x10", 3), 0);

        const char *const bad[][2] = {
                { "{}", "content is required" },
                { R"({"content":null})", "content is required" },
                { R"({"content":[1]})", "content: expected a string, got array" },
                { R"({"content":"!!","encoding":"base64"})", "content: invalid base64" },
                { R"({"content":"x","encoding":"hex"})", "encoding: 'hex' is not utf8 or base64" },
                { R"({"content":"x","encoding":1})", "encoding: expected a string" },
        };
        for (const auto &c : bad) {
                Decoded d(gw_file_decode, GW_FILE_PUT, c[0]);
                EXPECT_EQ(d.rc, -EINVAL) << c[0];
                EXPECT_NE(d.msg().find(c[1]), std::string::npos) << c[0] << ": " << d.msg();
        }
}

TEST(BodyTest, FilesBatch)
{
        Decoded r(gw_files_decode, GW_FILES_BATCH, R"({"files":{"/tmp/a":"1","/tmp/b":""}})");
        ASSERT_EQ(r.rc, 0) << r.msg();
        ASSERT_EQ(r.req.files.n_files, 2u);
        EXPECT_STREQ(r.req.files.files[0].key, "/tmp/a");
        EXPECT_STREQ(r.req.files.files[1].value, "");

        Decoded empty(gw_files_decode, GW_FILES_BATCH, R"({"files":{}})");
        ASSERT_EQ(empty.rc, 0) << empty.msg();
        EXPECT_EQ(empty.req.files.n_files, 0u);

        Decoded none(gw_files_decode, GW_FILES_BATCH, "{}");
        EXPECT_EQ(none.rc, -EINVAL);
        EXPECT_NE(none.msg().find("files is required"), std::string::npos) << none.msg();
        Decoded wrong(gw_files_decode, GW_FILES_BATCH, R"({"files":{"/a":{"content":"x"}}})");
        EXPECT_EQ(wrong.rc, -EINVAL);
        EXPECT_NE(wrong.msg().find("files./a: expected a string, got object"), std::string::npos) << wrong.msg();

        std::string many = R"({"files":{)";
        for (int i = 0; i <= GW_ENV_MAX; i++)
                many += std::string(i ? "," : "") + "\"/f" + std::to_string(i) + "\":\"\"";
        many += "}}";
        Decoded big(gw_files_decode, GW_FILES_BATCH, many);
        EXPECT_EQ(big.rc, -EINVAL);
        EXPECT_NE(big.msg().find("more than"), std::string::npos) << big.msg();
}

TEST(BodyTest, Batch)
{
        Decoded r(gw_batch_decode, GW_BATCH_RUN, R"({"commands":[{"command":["true"]},{"command":["echo","x"]}]})");
        ASSERT_EQ(r.rc, 0) << r.msg();
        ASSERT_EQ(r.req.batch.n_cmds, 2u);
        EXPECT_STREQ(r.req.batch.cmds[1].argv[1], "x");

        const char *const bad[][2] = {
                { "{}", "commands is required" },
                { R"({"commands":{}})", "commands: expected an array" },
                { R"({"commands":[]})", "commands: 1 to 64 entries, got 0" },
                { R"({"commands":[1]})", "commands[]: expected an object, got number" },
                // The failing entry is named; the ones before it are freed (ASan).
                { R"({"commands":[{"command":["a"]},{"command":[]}]})", "commands[1]: command is required" },
        };
        for (const auto &b : bad) {
                Decoded d(gw_batch_decode, GW_BATCH_RUN, b[0]);
                EXPECT_EQ(d.rc, -EINVAL) << b[0];
                EXPECT_NE(d.msg().find(b[1]), std::string::npos) << b[0] << ": " << d.msg();
        }
        std::string many = R"({"commands":[)";
        for (int i = 0; i <= GW_BATCH_MAX; i++)
                many += std::string(i ? "," : "") + R"({"command":["true"]})";
        many += "]}";
        Decoded big(gw_batch_decode, GW_BATCH_RUN, many);
        EXPECT_EQ(big.rc, -EINVAL);
        EXPECT_NE(big.msg().find("got 65"), std::string::npos) << big.msg();
}

TEST(BodyTest, Extend)
{
        Decoded r(gw_extend_decode, GW_EXTEND, R"({"by":"1h"})");
        ASSERT_EQ(r.rc, 0) << r.msg();
        EXPECT_EQ(r.req.extend_seconds, 3600u);
        // No "by": agentkernel's default, one hour.
        Decoded def(gw_extend_decode, GW_EXTEND, "{}");
        ASSERT_EQ(def.rc, 0) << def.msg();
        EXPECT_EQ(def.req.extend_seconds, 3600u);
        Decoded null_by(gw_extend_decode, GW_EXTEND, R"({"by":null})");
        ASSERT_EQ(null_by.rc, 0) << null_by.msg();
        EXPECT_EQ(null_by.req.extend_seconds, 3600u);
        const char *const bad[][2] = {
                { R"({"by":3600})", "by: expected a string, got number" },
                { R"({"by":"0"})", "by: '0' is not a duration" },
                { R"({"by":"1y"})", "by: '1y' is not a duration" },
        };
        for (const auto &b : bad) {
                Decoded d(gw_extend_decode, GW_EXTEND, b[0]);
                EXPECT_EQ(d.rc, -EINVAL) << b[0];
                EXPECT_NE(d.msg().find(b[1]), std::string::npos) << b[0] << ": " << d.msg();
        }
}

TEST(DurationTest, Units)
{
        const struct {
                const char *s;
                uint64_t want;
        } ok[] = {
                { "0", 0 },        { "90", 90 },          { "90s", 90 },         { "30m", 1800 },
                { "1h", 3600 },    { "2d", 172800 },      { "365d", 31536000 },  { "31536000", 31536000 },
                { "0001m", 60 },   { "8760h", 31536000 },
        };
        for (const auto &c : ok) {
                uint64_t v = 12345;
                ASSERT_EQ(gw_duration_parse(c.s, &v), 0) << c.s;
                EXPECT_EQ(v, c.want) << c.s;
        }
        const char *const bad[] = { "",   "h",   "-1",  "1.5h", "1hh", " 1", "1 ",  "1H", "1w",
                                    "366d", "31536001", "8761h", "99999999999999999999999s" };
        for (const char *s : bad) {
                uint64_t v = 7;
                EXPECT_EQ(gw_duration_parse(s, &v), -EINVAL) << s;
                EXPECT_EQ(v, 7u) << s;
        }
        uint64_t v;
        EXPECT_EQ(gw_duration_parse(nullptr, &v), -EINVAL);
}

TEST(LabelTest, SplitsAtFirstColon)
{
        char buf[32];
        const char *k, *v;
        ASSERT_EQ(gw_label_parse("team:a:b", buf, sizeof(buf), &k, &v), 0);
        EXPECT_STREQ(k, "team");
        EXPECT_STREQ(v, "a:b");
        ASSERT_EQ(gw_label_parse("k:", buf, sizeof(buf), &k, &v), 0);
        EXPECT_STREQ(v, "");
        EXPECT_EQ(gw_label_parse(":v", buf, sizeof(buf), &k, &v), -EINVAL);
        EXPECT_EQ(gw_label_parse("novalue", buf, sizeof(buf), &k, &v), -EINVAL);
        EXPECT_EQ(gw_label_parse("", buf, sizeof(buf), &k, &v), -EINVAL);
        // 31 bytes and the NUL fit in 32; 32 do not.
        EXPECT_EQ(gw_label_parse((std::string(30, 'k') + ":").c_str(), buf, sizeof(buf), &k, &v), 0);
        EXPECT_EQ(gw_label_parse((std::string(31, 'k') + ":").c_str(), buf, sizeof(buf), &k, &v), -EINVAL);
}

}  // namespace

// POST /snapshots: the SDK's TakeSnapshotOptions {sandbox, name?}.
TEST(BodyTest, Snapshot)
{
        Decoded a(gw_snapshot_decode, GW_SNAP_TAKE, R"({"sandbox":"dev","name":"dev-ready","x":1})");
        ASSERT_EQ(a.rc, 0) << a.msg();
        EXPECT_STREQ(a.req.snapshot.sandbox, "dev");
        EXPECT_STREQ(a.req.snapshot.name, "dev-ready");
        Decoded b(gw_snapshot_decode, GW_SNAP_TAKE, R"({"sandbox":"dev"})");
        ASSERT_EQ(b.rc, 0) << b.msg();
        EXPECT_EQ(b.req.snapshot.name, nullptr);
        const struct {
                const char *body, *want;
        } bad[] = {
                { "{}", "sandbox is required" },
                { R"({"sandbox":5})", "sandbox: expected a string" },
                { R"({"sandbox":"../x"})", "sandbox: '../x' is not a sandbox name" },
                { R"({"sandbox":"x","name":"a/b"})", "name: 'a/b' is not a snapshot name" },
                { R"({"sandbox":"x","name":""})", "is not a snapshot name" },
        };
        for (const auto &c : bad) {
                Decoded r(gw_snapshot_decode, GW_SNAP_TAKE, c.body);
                EXPECT_EQ(r.rc, -EINVAL) << c.body;
                EXPECT_NE(r.msg().find(c.want), std::string::npos) << c.body << ": " << r.msg();
        }
}
