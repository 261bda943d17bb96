// Framing, request parsing and response shapes.
#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "guest/path.h"
#include "lib/guest/frame.h"
#include "lib/guest/protocol.h"
}

namespace {

std::string Frame(const std::string& body) {
  uint8_t h[4];
  frame_put_header(h, (uint32_t)body.size());
  return std::string((char*)h, 4) + body;
}

TEST(FrameReader, SplitAcrossFeedsAndBackToBack) {
  struct frame_reader* r;
  ASSERT_EQ(frame_reader_new(FRAME_MAX, &r), 0);
  std::string in = Frame("{\"a\":1}") + Frame("") + Frame("xyz");
  std::vector<std::string> got;
  for (size_t i = 0; i < in.size(); i++) {  // one byte at a time
    size_t used;
    int st = frame_reader_feed(r, (const uint8_t*)in.data() + i, 1, &used);
    ASSERT_EQ(used, 1u);
    if (st == FRAME_READY) {
      uint8_t* body;
      size_t len;
      frame_reader_take(r, &body, &len);
      got.emplace_back((char*)body, len);
      EXPECT_EQ(body[len], 0);
      free(body);
    }
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], "{\"a\":1}");
  EXPECT_EQ(got[1], "");
  EXPECT_EQ(got[2], "xyz");
  EXPECT_TRUE(frame_reader_idle(r));
  frame_reader_free(r);
}

TEST(FrameReader, OversizeIsSkippedAndStreamStaysInStep) {
  struct frame_reader* r;
  ASSERT_EQ(frame_reader_new(16, &r), 0);
  std::string in = Frame(std::string(100, 'x')) + Frame("ok");
  size_t off = 0, used;
  int st = frame_reader_feed(r, (const uint8_t*)in.data(), in.size(), &used);
  EXPECT_EQ(st, FRAME_OVERSIZE);
  EXPECT_EQ(frame_reader_oversize_len(r), 100u);
  off += used;
  st = frame_reader_feed(r, (const uint8_t*)in.data() + off, in.size() - off, &used);
  ASSERT_EQ(st, FRAME_READY);
  uint8_t* body;
  size_t len;
  frame_reader_take(r, &body, &len);
  EXPECT_EQ(std::string((char*)body, len), "ok");
  free(body);
  frame_reader_free(r);
}

struct Parsed {
  int r;
  struct proto_request* req = nullptr;
  std::string id, msg;
  ~Parsed() { proto_request_free(req); }
};

void Parse(const std::string& s, Parsed* p) {
  struct proto_error err;
  p->r = proto_request_parse(s.data(), s.size(), &p->req, &err);
  if (p->r < 0) {
    p->id = err.id ? err.id : "";
    p->msg = err.message;
    proto_error_done(&err);
  }
}

TEST(RequestParse, FullRun) {
  Parsed p;
  Parse(R"({"id":"r1","type":"run","command":["ls","-l"],"cwd":"/tmp","env":{"A":"1"},)"
        R"("timeout_ms":5,"stream":true,"max_output_bytes":10,"extra":{"ignored":[1]}})",
        &p);
  ASSERT_EQ(p.r, 0) << p.msg;
  EXPECT_STREQ(p.req->id, "r1");
  EXPECT_EQ(p.req->type, PROTO_RUN);
  ASSERT_EQ(p.req->n_command, 2u);
  EXPECT_STREQ(p.req->command[1], "-l");
  EXPECT_STREQ(p.req->cwd, "/tmp");
  ASSERT_EQ(p.req->n_env, 1u);
  EXPECT_STREQ(p.req->env_values[0], "1");
  EXPECT_EQ(p.req->timeout_ms, 5);
  EXPECT_TRUE(p.req->stream);
  EXPECT_EQ(p.req->max_output_bytes, 10);
  EXPECT_EQ(p.req->rows, -1);
}

TEST(RequestParse, NullIsAbsent) {
  Parsed p;
  Parse(R"({"id":"x","type":"shell","command":null,"rows":null,"cols":100})", &p);
  ASSERT_EQ(p.r, 0) << p.msg;
  EXPECT_EQ(p.req->command, nullptr);
  EXPECT_EQ(p.req->rows, -1);
  EXPECT_EQ(p.req->cols, 100);
}

TEST(RequestParse, ErrorsEchoTheIdWhenReadable) {
  struct {
    const char* in;
    const char* id;
  } cases[] = {
      {"garbage", ""},
      {"", ""},
      {"[1,2]", ""},
      {R"({"type":"ping"})", ""},
      {R"({"id":7,"type":"ping"})", ""},
      {R"({"id":"a"})", "a"},
      {R"({"id":"b","type":"dance"})", "b"},
      {R"({"id":"c","type":5})", "c"},
      {R"({"id":"d","type":"run","command":"ls"})", "d"},
      {R"({"id":"e","type":"run","command":["ls",1]})", "e"},
      {R"({"id":"f","type":"shell","rows":70000})", "f"},
      {R"({"id":"g","type":"shell","rows":-1})", "g"},
      {R"({"id":"h","type":"mkdir","recursive":"yes"})", "h"},
      {R"({"id":"i","type":"run","env":{"A":1}})", "i"},
      {R"({"id":"j","type":"ping","id":"k"})", ""},
      {R"({"id":"l","type":"ping"} trailing)", ""},
      {R"({"id":"m","type":"run","command":["a\u0000b"]})", ""},
  };
  for (auto& c : cases) {
    Parsed p;
    Parse(c.in, &p);
    EXPECT_EQ(p.r, -EINVAL) << c.in;
    EXPECT_EQ(p.id, c.id) << c.in;
    EXPECT_FALSE(p.msg.empty()) << c.in;
  }
}

// What the reader refuses anywhere in a request, ignored fields included:
// duplicate keys, \u0000, integers outside int64, reals outside double.
TEST(RequestParse, RefusedAnywhere) {
  for (const char* bad : {
           R"({"id":"a","type":"ping","x":{"k":1,"k":2}})",
           R"({"id":"a","type":"run","env":{"K":"1","K":"2"}})",
           R"({"id":"a","type":"ping","x":["\u0000"]})",
           R"({"id":"a","type":"run","env":{"\u0000":"v"}})",
           R"({"id":"a","type":"ping","x":{"\u0000":1}})",
           R"({"id":"a","type":"ping","x":9223372036854775808})",
           R"({"id":"a","type":"ping","x":-9223372036854775809})",
           R"({"id":"a","type":"ping","x":[1e400]})",
           R"({"id":"a","type":"ping","x":-1.5e309})",
           "1",
           R"("s")",
           "[]",
       }) {
    Parsed p;
    Parse(bad, &p);
    EXPECT_EQ(p.r, -EINVAL) << bad;
    EXPECT_EQ(p.id, "") << bad;
    EXPECT_EQ(p.msg.rfind("Invalid request: ", 0), 0u) << bad << ": " << p.msg;
  }
  for (const char* ok : {
           R"({"id":"a","type":"ping","x":-9223372036854775808,"y":9223372036854775807})",
           R"({"id":"a","type":"ping","x":[1e-400,1.7976931348623157e308,-0,-0.0]})",
           R"( {"id":"a","type":"ping","x":{"k":1},"y":{"k":1}} )",
       }) {
    Parsed p;
    Parse(ok, &p);
    EXPECT_EQ(p.r, 0) << ok << ": " << p.msg;
  }
}

TEST(RequestParse, NestingUpToSerdesLimit) {
  // serde_json's recursion limit, 128 levels, counting the request itself.
  auto nested = [](int depth) {
    return R"({"id":"a","type":"ping","x":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  };
  Parsed ok;
  Parse(nested(127), &ok);
  EXPECT_EQ(ok.r, 0) << ok.msg;
  Parsed deep;
  Parse(nested(128), &deep);
  EXPECT_EQ(deep.r, -EINVAL);
  EXPECT_EQ(deep.id, "");
}

TEST(RequestParse, IntegerFields) {
  Parsed z;
  Parse(R"({"id":"a","type":"shell","rows":-0,"cols":0})", &z);
  ASSERT_EQ(z.r, 0) << z.msg;
  EXPECT_EQ(z.req->rows, 0);
  EXPECT_EQ(z.req->cols, 0);
  for (const char* bad : {
           R"({"id":"a","type":"shell","rows":1.0})",
           R"({"id":"a","type":"shell","rows":1e1})",
           R"({"id":"a","type":"run","timeout_ms":-1})",
           R"({"id":"a","type":"run","max_output_bytes":true})",
       }) {
    Parsed p;
    Parse(bad, &p);
    EXPECT_EQ(p.r, -EINVAL) << bad;
    EXPECT_EQ(p.id, "a") << bad;
  }
  Parsed big;
  Parse(R"({"id":"a","type":"run","timeout_ms":9223372036854775807})", &big);
  ASSERT_EQ(big.r, 0) << big.msg;
  EXPECT_EQ(big.req->timeout_ms, INT64_MAX);
}

TEST(RequestParse, WriteFileMode) {
  Parsed none;
  Parse(R"({"id":"a","type":"write_file","path":"/x","content_base64":""})", &none);
  ASSERT_EQ(none.r, 0) << none.msg;
  EXPECT_EQ(none.req->mode, -1);
  Parsed p;
  Parse(R"({"id":"a","type":"write_file","path":"/x","content_base64":"","mode":493})", &p);
  ASSERT_EQ(p.r, 0) << p.msg;
  EXPECT_EQ(p.req->mode, 0755);
  Parsed top;
  Parse(R"({"id":"a","type":"write_file","mode":4095})", &top);
  ASSERT_EQ(top.r, 0) << top.msg;
  EXPECT_EQ(top.req->mode, 07777);
  for (const char* bad : {
           R"({"id":"a","type":"write_file","mode":4096})",
           R"({"id":"a","type":"write_file","mode":-1})",
           R"({"id":"a","type":"write_file","mode":"0755"})",
           R"({"id":"a","type":"write_file","mode":7.5})",
       }) {
    Parsed b;
    Parse(bad, &b);
    EXPECT_EQ(b.r, -EINVAL) << bad;
    EXPECT_NE(b.msg.find("mode"), std::string::npos) << b.msg;
  }
  struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
  a.id = "w";
  a.type = "write_file";
  a.path = "/x";
  a.mode = 0600;
  char* json;
  size_t len;
  ASSERT_EQ(proto_request_json(&a, &json, &len), 0);
  EXPECT_EQ(std::string(json, len), R"({"id":"w","type":"write_file","path":"/x","mode":384})");
  free(json);
}

TEST(RequestParse, EnvKeepsOrder) {
  Parsed p;
  Parse(R"({"id":"a","type":"run","env":{"B":"1","A":"2","C":"3"}})", &p);
  ASSERT_EQ(p.r, 0) << p.msg;
  ASSERT_EQ(p.req->n_env, 3u);
  EXPECT_STREQ(p.req->env_keys[0], "B");
  EXPECT_STREQ(p.req->env_keys[1], "A");
  EXPECT_STREQ(p.req->env_values[2], "3");
  Parsed q;
  Parse(R"({"id":"b","type":"run","env":{"K":"1","L":2}})", &q);
  EXPECT_EQ(q.r, -EINVAL);
  EXPECT_EQ(q.id, "b");
  EXPECT_NE(q.msg.find("`L`"), std::string::npos) << q.msg;
}

TEST(ReplyParse, DuplicatesNulsAndNumbers) {
  struct proto_reply* rep;
  // A duplicate key: the last one counts. NUL is kept.
  std::string dup = R"({"id":"a","error":"x","error":"y\u0000z","exit_code":1,"exit_code":-2147483648})";
  ASSERT_EQ(proto_reply_parse(dup.data(), dup.size(), &rep), 0);
  EXPECT_STREQ(rep->id, "a");
  EXPECT_EQ(std::string(rep->error, 3), std::string("y\0z", 3));
  EXPECT_EQ(rep->exit_code, INT32_MIN);
  proto_reply_free(rep);
  std::string flags = R"({"id":"a","truncated":1,"timed_out":true,"signal":9,"stream":null})";
  ASSERT_EQ(proto_reply_parse(flags.data(), flags.size(), &rep), 0);
  EXPECT_FALSE(rep->truncated);  // only true is true
  EXPECT_TRUE(rep->timed_out);
  EXPECT_EQ(rep->signal, 9);
  EXPECT_EQ(rep->stream, nullptr);
  EXPECT_FALSE(rep->has_exit_code);
  proto_reply_free(rep);
  for (const char* bad : {
           R"({"id":"a","x":18446744073709551615})",
           R"({"id":"a","x":1e999})",
           R"({"id":"a","exit_code":2147483648})",
           R"({"id":"a","exit_code":1.0})",
           R"({"id":"a","signal":1025})",
           R"({"id":"a","stdout":1})",
           R"({"id":1})",
           R"({"id":"a"} x)",
       })
    EXPECT_EQ(proto_reply_parse(bad, strlen(bad), &rep), -EINVAL) << bad;
}

std::string Write(const struct proto_response& r) {
  char* json;
  size_t len;
  EXPECT_EQ(proto_response_json(&r, &json, &len), 0);
  std::string s(json, len);
  free(json);
  return s;
}

TEST(ResponseWrite, SerdeFieldOrderAndOmission) {
  struct proto_response r = {};
  r.id = "1";
  r.has_exit_code = true;
  EXPECT_EQ(Write(r), R"({"id":"1","exit_code":0})");
  r.has_stdout = r.has_stderr = true;
  r.stdout_buf = "o\xff";
  r.stdout_len = 2;
  r.stderr_buf = "e";
  r.stderr_len = 1;
  r.exit_code = 2;
  EXPECT_EQ(Write(r), "{\"id\":\"1\",\"exit_code\":2,\"stdout\":\"o\xEF\xBF\xBD\",\"stderr\":\"e\"}");
  struct proto_response s = {};
  s.id = "2";
  s.session_id = "S";
  s.output_base64 = "QQ==";
  s.output_base64_len = 4;
  s.shell_event = "output";
  EXPECT_EQ(Write(s), R"({"id":"2","session_id":"S","output_base64":"QQ==","shell_event":"output"})");
  struct proto_response e = {};
  e.id = "3";
  e.error = "bad";
  EXPECT_EQ(Write(e), R"({"id":"3","error":"bad"})");
  struct proto_response all = {};
  all.id = "4";
  all.has_exit_code = true;
  all.exit_code = -1;
  all.has_stdout = all.has_stderr = true;
  all.stdout_buf = all.stderr_buf = "";
  all.error = "t";
  all.truncated = all.timed_out = true;
  all.signal = 9;
  EXPECT_EQ(Write(all),
            R"({"id":"4","exit_code":-1,"stdout":"","stderr":"","error":"t","truncated":true,"timed_out":true,"signal":9})");
}

TEST(ResponseWrite, EveryStringIsWrittenLossily) {
  struct proto_response r = {};
  r.id = "i\xff";
  r.error = "e\"\xed\xa0\x80\n";
  EXPECT_EQ(Write(r), "{\"id\":\"i\xEF\xBF\xBD\",\"error\":\"e\\\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\\n\"}");
}

TEST(RequestWrite, ExactBytes) {
  const char* cmd[] = {"sh", "a\xff"};
  const char* k[] = {"K\"", "L"};
  const char* v[] = {"V", "\t"};
  struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
  a.id = "q";
  a.type = "run";
  a.command = cmd;
  a.n_command = 2;
  a.cwd = "/";
  a.env_keys = k;
  a.env_values = v;
  a.n_env = 2;
  a.stream = 1;
  a.max_output_bytes = 5;
  char* json;
  size_t len;
  ASSERT_EQ(proto_request_json(&a, &json, &len), 0);
  EXPECT_EQ(std::string(json, len),
            "{\"id\":\"q\",\"type\":\"run\",\"command\":[\"sh\",\"a\xEF\xBF\xBD\"],\"cwd\":\"/\","
            "\"env\":{\"K\\\"\":\"V\",\"L\":\"\\t\"},\"stream\":true,\"max_output_bytes\":5}");
  free(json);
}

TEST(ResponseFrame, RefusesAboveTheLimit) {
  std::string big(FRAME_MAX, 'a');
  struct proto_response r = {};
  r.id = "1";
  r.has_stdout = true;
  r.stdout_buf = big.data();
  r.stdout_len = big.size();
  uint8_t* f;
  size_t n;
  EXPECT_EQ(proto_response_frame(&r, &f, &n), -EMSGSIZE);
  r.stdout_len = 100;
  ASSERT_EQ(proto_response_frame(&r, &f, &n), 0);
  EXPECT_EQ(frame_get_header(f), n - 4);
  free(f);
  // The body may be exactly FRAME_MAX, not a byte more.
  r.stdout_len = FRAME_MAX - strlen(R"({"id":"1","stdout":""})");
  ASSERT_EQ(proto_response_frame(&r, &f, &n), 0);
  EXPECT_EQ(n, FRAME_HEADER_SIZE + FRAME_MAX);
  EXPECT_EQ(frame_get_header(f), FRAME_MAX);
  EXPECT_EQ(std::string((char*)f + 4, 20), R"({"id":"1","stdout":")");
  free(f);
  r.stdout_len++;
  EXPECT_EQ(proto_response_frame(&r, &f, &n), -EMSGSIZE);
}

TEST(RequestBuildAndReplyParse, RoundTrip) {
  const char* cmd[] = {"echo", "hi \"there\""};
  const char* k[] = {"K"};
  const char* v[] = {"V"};
  struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
  a.id = "z";
  a.type = "run";
  a.command = cmd;
  a.n_command = 2;
  a.env_keys = k;
  a.env_values = v;
  a.n_env = 1;
  a.timeout_ms = 100;
  char* json;
  size_t len;
  ASSERT_EQ(proto_request_json(&a, &json, &len), 0);
  Parsed p;
  Parse(std::string(json, len), &p);
  free(json);
  ASSERT_EQ(p.r, 0) << p.msg;
  EXPECT_STREQ(p.req->command[1], "hi \"there\"");
  EXPECT_STREQ(p.req->env_keys[0], "K");
  EXPECT_EQ(p.req->timeout_ms, 100);

  std::string body = R"({"id":"z","exit_code":3,"stdout":"a\u0000b","truncated":true})";
  struct proto_reply* rep;
  ASSERT_EQ(proto_reply_parse(body.data(), body.size(), &rep), 0);
  EXPECT_EQ(rep->exit_code, 3);
  EXPECT_EQ(std::string(rep->stdout_str, rep->stdout_len), std::string("a\0b", 3));
  EXPECT_TRUE(rep->truncated);
  proto_reply_free(rep);
  EXPECT_EQ(proto_reply_parse("[]", 2, &rep), -EINVAL);
}

TEST(PathPolicy, ByComponent) {
  const char* msg;
  for (const char* ok : {"/tmp/x", "/devices", "/procfs/a", "/system", "/etc/passwd.d/x", "/etc/passwdx",
                         "/tmp/a..b", "/tmp/..x/y", "/"})
    EXPECT_EQ(path_validate(ok, &msg), 0) << ok;
  for (const char* bad : {"/proc", "/proc/1", "//proc", "/./sys/x", "/dev/", "/dev/null", "/etc/passwd",
                          "/etc//shadow", "/tmp/../etc", "/..", "tmp/x", "", "./x"})
    EXPECT_EQ(path_validate(bad, &msg), -EINVAL) << bad;
  EXPECT_EQ(path_validate("tmp", &msg), -EINVAL);
  EXPECT_STREQ(msg, "Path must be absolute");
  EXPECT_EQ(path_validate("/a/../b", &msg), -EINVAL);
  EXPECT_STREQ(msg, "Path traversal not allowed");
  EXPECT_EQ(path_validate("/dev/sda", &msg), -EINVAL);
  EXPECT_STREQ(msg, "Cannot access system path: /dev");
}

TEST(PathPolicy, ResolvedThroughSymlinks) {
  char dir[] = "/tmp/akp.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string link = std::string(dir) + "/l";
  ASSERT_EQ(symlink("/proc", link.c_str()), 0);
  const char* msg;
  EXPECT_EQ(path_validate((link + "/self/status").c_str(), &msg), 0);
  EXPECT_EQ(path_validate_resolved((link + "/self/status").c_str(), &msg), -EINVAL);
  EXPECT_EQ(path_validate_resolved((std::string(dir) + "/new/file").c_str(), &msg), 0);
  unlink(link.c_str());
  rmdir(dir);
}

}  // namespace
