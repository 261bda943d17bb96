#include <errno.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "lib/json/json.h"
#include "lib/json/writer.h"

namespace {

std::string Quote(const std::string &s)
{
        char *out = nullptr;
        size_t n = 0;
        EXPECT_EQ(json_quote(s.data(), s.size(), &out, &n), 0);
        std::string r(out, n);
        free(out);
        return r;
}

std::string Finish(struct json_writer *w, int want = 0)
{
        char *out = nullptr;
        size_t n = 0;
        int r = json_writer_finish(w, &out, &n);
        EXPECT_EQ(r, want);
        std::string s = r == 0 ? std::string(out, n) : "";
        free(out);
        json_writer_free(w);
        return s;
}

void WriteSample(struct json_writer *w)
{
        json_writer_begin_object(w);
        json_writer_key(w, "version", 7);
        json_writer_u64(w, 1);
        json_writer_key(w, "list", 4);
        json_writer_begin_array(w);
        json_writer_string(w, "a", 1);
        json_writer_i64(w, -5);
        json_writer_begin_array(w);
        json_writer_end_array(w);
        json_writer_begin_object(w);
        json_writer_end_object(w);
        json_writer_end_array(w);
        json_writer_key(w, "o", 1);
        json_writer_begin_object(w);
        json_writer_key(w, "n", 1);
        json_writer_null(w);
        json_writer_key(w, "b", 1);
        json_writer_bool(w, true);
        json_writer_end_object(w);
        json_writer_key(w, "big", 3);
        json_writer_u64(w, UINT64_MAX);
        json_writer_end_object(w);
}

TEST(JsonWriter, SerdeEscaping)
{
        EXPECT_EQ(Quote(""), "\"\"");
        EXPECT_EQ(Quote("a\"b\\c/d"), "\"a\\\"b\\\\c/d\"");
        EXPECT_EQ(Quote("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
        EXPECT_EQ(Quote(std::string("\0\x01\x1f\x0b", 4)), "\"\\u0000\\u0001\\u001f\\u000b\"");
        EXPECT_EQ(Quote("\x7f"), "\"\x7f\"");
        EXPECT_EQ(Quote("\xc3\xa9\xf0\x9f\x98\x80"), "\"\xc3\xa9\xf0\x9f\x98\x80\"");
        EXPECT_EQ(Quote("\x1a"), "\"\\u001a\"");
}

TEST(JsonWriter, Compact)
{
        struct json_writer *w;
        ASSERT_EQ(json_writer_new(0, 0, &w), 0);
        WriteSample(w);
        EXPECT_EQ(Finish(w), "{\"version\":1,\"list\":[\"a\",-5,[],{}],\"o\":{\"n\":null,\"b\":true},"
                             "\"big\":18446744073709551615}");
}

TEST(JsonWriter, RawValues)
{
        struct json_writer *w;
        ASSERT_EQ(json_writer_new(0, 0, &w), 0);
        json_writer_begin_array(w);
        json_writer_raw(w, "1.5e3", 5);
        json_writer_raw(w, "{\"a\":[]}", 8);
        json_writer_begin_object(w);
        json_writer_key(w, "k", 1);
        json_writer_raw(w, "-0", 2);
        json_writer_end_object(w);
        json_writer_end_array(w);
        EXPECT_EQ(Finish(w), "[1.5e3,{\"a\":[]},{\"k\":-0}]");
}

TEST(JsonWriter, PrettyAsSerde)
{
        struct json_writer *w;
        ASSERT_EQ(json_writer_new(JSON_WRITER_PRETTY, 0, &w), 0);
        WriteSample(w);
        EXPECT_EQ(Finish(w), "{\n"
                             "  \"version\": 1,\n"
                             "  \"list\": [\n"
                             "    \"a\",\n"
                             "    -5,\n"
                             "    [],\n"
                             "    {}\n"
                             "  ],\n"
                             "  \"o\": {\n"
                             "    \"n\": null,\n"
                             "    \"b\": true\n"
                             "  },\n"
                             "  \"big\": 18446744073709551615\n"
                             "}");
}

TEST(JsonWriter, Misuse)
{
        struct json_writer *w;
        ASSERT_EQ(json_writer_new(0, 0, &w), 0);
        json_writer_begin_object(w);
        json_writer_u64(w, 1); /* value without key */
        Finish(w, -EINVAL);

        ASSERT_EQ(json_writer_new(0, 0, &w), 0);
        json_writer_begin_array(w);
        Finish(w, -EINVAL); /* unbalanced */

        ASSERT_EQ(json_writer_new(0, 0, &w), 0);
        json_writer_begin_array(w);
        json_writer_end_object(w);
        Finish(w, -EINVAL);

        ASSERT_EQ(json_writer_new(0, 0, &w), 0);
        json_writer_null(w);
        json_writer_null(w); /* two top-level values */
        Finish(w, -EINVAL);

        ASSERT_EQ(json_writer_new(0, 0, &w), 0);
        Finish(w, -EINVAL); /* nothing */

        ASSERT_EQ(json_writer_new(0, 8, &w), 0);
        json_writer_string(w, "0123456789", 10);
        Finish(w, -E2BIG);

        json_writer_free(nullptr);
}

/* Every byte string written, parsed back, gives the same bytes. */
TEST(JsonWriter, RoundTripAllControlAndAscii)
{
        std::string s;
        for (int c = 0; c < 128; c++)
                s.push_back((char)c);
        s += "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
        std::string q = Quote(s);
        struct json_value *v = nullptr;
        ASSERT_EQ(json_parse(q.data(), q.size(), &v, nullptr), 0);
        size_t n;
        const char *back = json_string(v, &n);
        EXPECT_EQ(std::string(back, n), s);
        json_value_free(v);
}

/* Python's json.dumps(separators=(",", ":"), ensure_ascii=False) escapes
 * exactly as serde_json does: an independent oracle. */
TEST(JsonWriter, MatchesPythonOracle)
{
        const char *py = "/usr/bin/python3";
        if (access(py, X_OK) != 0)
                GTEST_SKIP() << "python3 oracle: /usr/bin/python3 not installed";
        std::string s;
        for (int c = 1; c < 128; c++)
                s.push_back((char)c);
        s += "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80/\\\"";
        std::string q = Quote(s);
        char path[] = "/tmp/ak_json_oracle_XXXXXX";
        int fd = mkstemp(path);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(write(fd, q.data(), q.size()), (ssize_t)q.size());
        close(fd);
        std::string cmd = std::string(py) +
                          " -c 'import json,sys; v=json.load(open(sys.argv[1],encoding=\"utf-8\"));"
                          " sys.stdout.buffer.write(json.dumps([v, {\"k\":[1,None,True]}],"
                          " separators=(\",\",\":\"), ensure_ascii=False).encode())' " + path;
        FILE *p = popen(cmd.c_str(), "r");
        ASSERT_NE(p, nullptr);
        std::string out;
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                out.append(buf, n);
        ASSERT_EQ(pclose(p), 0);
        unlink(path);

        struct json_writer *w;
        ASSERT_EQ(json_writer_new(0, 0, &w), 0);
        json_writer_begin_array(w);
        json_writer_string(w, s.data(), s.size());
        json_writer_begin_object(w);
        json_writer_key(w, "k", 1);
        json_writer_begin_array(w);
        json_writer_u64(w, 1);
        json_writer_null(w);
        json_writer_bool(w, true);
        json_writer_end_array(w);
        json_writer_end_object(w);
        json_writer_end_array(w);
        EXPECT_EQ(Finish(w), out);
}

} // namespace
