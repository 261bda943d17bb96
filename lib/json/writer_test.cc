#include <errno.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

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

const std::string R = "\xef\xbf\xbd"; /* U+FFFD */

/* One string through a writer made with flags; checks json_quoted_size. */
std::string Str(const std::string &in, unsigned flags = JSON_WRITER_LOSSY)
{
        struct json_writer *w;
        EXPECT_EQ(json_writer_new(flags, 0, &w), 0);
        json_writer_string(w, in.data(), in.size());
        std::string out = Finish(w);
        EXPECT_EQ(out.size(), json_quoted_size(in.data(), in.size(), flags)) << in;
        return out;
}

const char *const kPython = "/usr/bin/python3";

/* Runs `python3 -c 'program' FILE` with input in FILE. Returns its stdout,
 * or fails the test. */
std::string Python(const std::string &program, const std::string &input)
{
        char path[] = "/tmp/ak_json_oracle_XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0) {
                ADD_FAILURE() << "mkstemp: " << strerror(errno);
                return "";
        }
        bool wrote = write(fd, input.data(), input.size()) == (ssize_t)input.size();
        close(fd);
        std::string out;
        std::string cmd = std::string(kPython) + " -c '" + program + "' " + path;
        FILE *p = wrote ? popen(cmd.c_str(), "r") : nullptr;
        if (p) {
                char buf[4096];
                size_t n;
                while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                        out.append(buf, n);
                EXPECT_EQ(pclose(p), 0) << cmd;
        } else {
                ADD_FAILURE() << "could not run " << cmd;
        }
        unlink(path);
        return out;
}

/* Random bytes, dense in UTF-8 lead and continuation bytes and escapes. */
std::string RandomBytes(std::mt19937 &rng, size_t max_len)
{
        static const unsigned char pick[] = {
                'a', ' ', '"', '\\', '\n', 0x00, 0x1f, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff,
        };
        std::string s(rng() % (max_len + 1), '\0');
        for (auto &c : s)
                c = (char)(rng() % 4 ? pick[rng() % sizeof(pick)] : rng() % 256);
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
        if (access(kPython, X_OK) != 0)
                GTEST_SKIP() << "python3 oracle: " << kPython << " not installed";
        std::string s;
        for (int c = 1; c < 128; c++)
                s.push_back((char)c);
        s += "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80/\\\"";
        std::string out = Python("import json,sys; v=json.load(open(sys.argv[1],encoding=\"utf-8\"));"
                                 " sys.stdout.buffer.write(json.dumps([v, {\"k\":[1,None,True]}],"
                                 " separators=(\",\",\":\"), ensure_ascii=False).encode())",
                                 Quote(s));

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

TEST(JsonWriterLossy, ValidTextIsKept)
{
        EXPECT_EQ(Str("h\xc3\xa9llo \xe2\x82\xac\xf0\x90\x8d\x88"), "\"h\xc3\xa9llo \xe2\x82\xac\xf0\x90\x8d\x88\"");
        EXPECT_EQ(Str("\"\\/\b\f\n\r\t"), "\"\\\"\\\\/\\b\\f\\n\\r\\t\"");
        EXPECT_EQ(Str(std::string("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
}

TEST(JsonWriterLossy, MaximalSubpartsBecomeOneReplacementEach)
{
        /* Unicode 15, table 3-8 (also the WHATWG decoder and Rust). */
        EXPECT_EQ(Str("\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64"),
                  "\"a" + R + R + R + "b" + R + "c" + R + R + "d\"");
        /* Rust's documented example: b"Hello \xF0\x90\x80World". */
        EXPECT_EQ(Str("Hello \xf0\x90\x80World"), "\"Hello " + R + "World\"");
}

TEST(JsonWriterLossy, NonShortestFormsAndSurrogatesAreSingleBytes)
{
        EXPECT_EQ(Str("\xc0\xaf"), "\"" + R + R + "\"");
        EXPECT_EQ(Str("\xe0\x80\xaf"), "\"" + R + R + R + "\"");
        EXPECT_EQ(Str("\xed\xa0\x80"), "\"" + R + R + R + "\"");
        EXPECT_EQ(Str("\xf4\x90\x80\x80"), "\"" + R + R + R + R + "\"");
        EXPECT_EQ(Str("\xf5\xff"), "\"" + R + R + "\"");
}

TEST(JsonWriterLossy, TruncatedSequenceAtEndIsOneReplacement)
{
        EXPECT_EQ(Str("ab\xe2\x82"), "\"ab" + R + "\"");
        EXPECT_EQ(Str("\xf0\x9f\x98"), "\"" + R + "\"");
        EXPECT_EQ(Str("\xf0\x9f\x98\n"), "\"" + R + "\\n\"");
}

TEST(JsonWriterLossy, KeysToo)
{
        struct json_writer *w;
        ASSERT_EQ(json_writer_new(JSON_WRITER_LOSSY, 0, &w), 0);
        json_writer_begin_object(w);
        json_writer_key(w, "k\xff\"", 3);
        json_writer_bool(w, false);
        json_writer_end_object(w);
        EXPECT_EQ(Finish(w), "{\"k" + R + "\\\"\":false}");
}

TEST(JsonWriterLossy, WithoutTheFlagBytesAreCopied)
{
        EXPECT_EQ(Str("a\xff\xed\xa0\x80", 0), "\"a\xff\xed\xa0\x80\"");
}

/* Python's bytes.decode("utf-8", "replace") substitutes maximal subparts too:
 * an independent oracle for the lossy writer over random bytes. */
TEST(JsonWriterLossy, MatchesPythonOracle)
{
        if (access(kPython, X_OK) != 0)
                GTEST_SKIP() << "python3 oracle: " << kPython << " not installed";
        std::mt19937 rng(7);
        std::vector<std::string> in;
        for (int i = 0; i < 2000; i++)
                in.push_back(RandomBytes(rng, 24));
        std::string hexlines;
        for (auto &s : in) {
                for (unsigned char c : s) {
                        char h[3];
                        snprintf(h, sizeof(h), "%02x", c);
                        hexlines += h;
                }
                hexlines += "\n";
        }
        std::string out = Python("import json,sys; v=[bytes.fromhex(l.strip()).decode(\"utf-8\",\"replace\")"
                                 " for l in open(sys.argv[1])];"
                                 " sys.stdout.buffer.write(json.dumps(v, separators=(\",\",\":\"),"
                                 " ensure_ascii=False).encode())",
                                 hexlines);

        struct json_writer *w;
        ASSERT_EQ(json_writer_new(JSON_WRITER_LOSSY, 0, &w), 0);
        json_writer_begin_array(w);
        for (auto &s : in)
                json_writer_string(w, s.data(), s.size());
        json_writer_end_array(w);
        EXPECT_EQ(Finish(w), out);
}

TEST(JsonQuoted, CutsOnUnitBoundariesWithinBudget)
{
        std::string s = "ab\xe2\x82\xac"
                        "cd"; /* ab€cd */
        for (unsigned flags : {0u, JSON_WRITER_LOSSY}) {
                EXPECT_EQ(json_quoted_cut(s.data(), s.size(), flags, 1), 0u);
                EXPECT_EQ(json_quoted_cut(s.data(), s.size(), flags, 2), 0u);
                EXPECT_EQ(json_quoted_cut(s.data(), s.size(), flags, 4), 2u);
                EXPECT_EQ(json_quoted_cut(s.data(), s.size(), flags, 6), 2u); /* € needs 3 */
                EXPECT_EQ(json_quoted_cut(s.data(), s.size(), flags, 7), 5u);
                EXPECT_EQ(json_quoted_cut(s.data(), s.size(), flags, 100), s.size());
        }
        std::string n = "\n\n"; /* 2 bytes each when escaped */
        EXPECT_EQ(json_quoted_cut(n.data(), n.size(), 0, 5), 1u);
        std::string c = "a\x01"; /* \u0001 is 6 */
        EXPECT_EQ(json_quoted_cut(c.data(), c.size(), 0, 8), 1u);
        EXPECT_EQ(json_quoted_cut(c.data(), c.size(), 0, 9), 2u);
        /* An invalid subpart is one unit: 3 bytes in, 3 out (U+FFFD) under
         * lossy; 3 raw bytes without. Never cut inside it. */
        std::string t = "a\xf0\x9f\x98";
        EXPECT_EQ(json_quoted_cut(t.data(), t.size(), JSON_WRITER_LOSSY, 5), 1u);
        EXPECT_EQ(json_quoted_cut(t.data(), t.size(), JSON_WRITER_LOSSY, 6), 4u);
        std::string u = "a\xff\xff"; /* two subparts of 1 byte, 3 out each */
        EXPECT_EQ(json_quoted_size(u.data(), u.size(), JSON_WRITER_LOSSY), 9u);
        EXPECT_EQ(json_quoted_size(u.data(), u.size(), 0), 5u);
        EXPECT_EQ(json_quoted_cut(u.data(), u.size(), JSON_WRITER_LOSSY, 8), 2u);
        EXPECT_EQ(json_quoted_cut(u.data(), u.size(), 0, 4), 2u);
        EXPECT_EQ(json_quoted_size("", 0, 0), 2u);
}

/* For any bytes: the size is what the writer writes, a cut is the longest
 * prefix within the budget, and it writes as the start of the whole does. */
TEST(JsonQuoted, SizeAndCutAgreeWithTheWriter)
{
        std::mt19937 rng(11);
        for (int i = 0; i < 20000; i++) {
                std::string s = RandomBytes(rng, 40);
                unsigned flags = i % 2 ? JSON_WRITER_LOSSY : 0;
                std::string whole = Str(s, flags);
                size_t budget = rng() % (whole.size() + 3);
                size_t cut = json_quoted_cut(s.data(), s.size(), flags, budget);
                ASSERT_LE(cut, s.size());
                if (budget < 2) {
                        EXPECT_EQ(cut, 0u);
                        continue;
                }
                std::string part = Str(s.substr(0, cut), flags);
                ASSERT_LE(part.size(), budget) << s;
                /* A prefix's output is a prefix of the whole's (less the quote). */
                ASSERT_EQ(whole.compare(0, part.size() - 1, part, 0, part.size() - 1), 0) << s;
                if (cut < s.size()) {
                        /* The next unit (at most 6 bytes written) would not fit. */
                        size_t next = cut;
                        for (size_t more = 1; more <= 6 && next == cut; more++)
                                next = json_quoted_cut(s.data(), s.size(), flags, budget + more);
                        ASSERT_GT(next, cut) << s;
                        EXPECT_GT(json_quoted_size(s.data(), next, flags), budget) << s;
                }
        }
}

TEST(JsonWriter, PrefixIsReservedOutsideTheLimit)
{
        struct json_writer *w;
        char *out = nullptr;
        size_t n = 0;
        ASSERT_EQ(json_writer_new(0, 8, &w), 0);
        json_writer_prefix(w, 4);
        json_writer_string(w, "012345", 6); /* 8 bytes: fits max_size */
        ASSERT_EQ(json_writer_finish(w, &out, &n), 0);
        json_writer_free(w);
        EXPECT_EQ(std::string(out, n), std::string("\0\0\0\0\"012345\"", 12));
        free(out);

        ASSERT_EQ(json_writer_new(0, 8, &w), 0);
        json_writer_prefix(w, 4);
        json_writer_string(w, "0123456", 7);
        Finish(w, -E2BIG);

        ASSERT_EQ(json_writer_new(0, 0, &w), 0);
        json_writer_begin_array(w);
        json_writer_prefix(w, 4); /* after output began */
        json_writer_end_array(w);
        Finish(w, -EINVAL);
}

} // namespace

TEST(JsonWriter, ValueCopiesAParsedTree)
{
        const std::string in = "{\"b\":[1.50,-0,true,null,\"x\\u0000y\"],\"a\":{},\"b\":{\"k\":[]}}";
        struct json_value *v = nullptr;
        ASSERT_EQ(json_parse(in.data(), in.size(), &v, nullptr), 0);
        struct json_writer *w;
        ASSERT_EQ(json_writer_new(0, 0, &w), 0);
        json_writer_value(w, v);
        json_value_free(v);
        /* Member order, duplicates and number text kept. */
        EXPECT_EQ(Finish(w), in);
}
