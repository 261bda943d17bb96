/* Payload and file bytes: golden vectors for every field type, and Python's
 * json module as an independent oracle of serde_json's output. */
#include <errno.h>
#include <gtest/gtest.h>
#include <stdint.h>

#include "lib/receipt/test_util.h"

using namespace rt;

namespace {

const char kSeedPayload[] =
        "{\"version\":1,\"receipt_id\":\"test-receipt-1\",\"recorded_at\":\"2026-02-23T00:00:00Z\","
        "\"invocation\":{\"mode\":\"run\",\"input\":{\"command\":[\"python3\",\"-c\",\"print('ok')\"],"
        "\"image\":\"python:3.12-alpine\",\"backend\":\"docker\",\"profile\":\"moderate\",\"no_network\":false,"
        "\"fast\":false,\"keep\":false}},\"outcome\":{\"exit_code\":0,\"success\":true,"
        "\"output_sha256\":\"dc51b8c96c2d745df3bd5590d990230a482fd247123599548e0632fdbf97fc22\","
        "\"output_bytes\":3,\"error\":null}}";

/* Every field type at its edges. */
Receipt EdgeReceipt()
{
        struct receipt *r = nullptr;
        receipt_new(&r);
        r->version = RECEIPT_VERSION;
        r->receipt_id = Dup("0190f5e2-7a3b-7c4d-8e5f-0123456789ab");
        r->recorded_at = Dup("2026-02-23T10:11:12.123456789+00:00");
        r->invocation.mode = RECEIPT_MODE_EXEC;
        r->invocation.exec.name = Dup("d\xc3\xa9v \xf0\x9f\x98\x80");
        r->invocation.exec.command = Strv({"sh", "-c", "echo \"a\\b\" / \x7f \t\n\r\b\f\x01\x1f\x1b[0m",
                                           "\xe2\x80\xa8\xef\xbb\xbf", ""});
        r->invocation.exec.n_command = 5;
        r->invocation.exec.env = Strv({});
        r->invocation.exec.n_env = 0;
        r->invocation.exec.workdir = nullptr;
        r->invocation.exec.sudo = false;
        r->outcome.exit_code = INT32_MIN;
        r->outcome.success = false;
        r->outcome.output_sha256 = Dup("not-a-hash");
        r->outcome.output_bytes = UINT64_MAX;
        r->outcome.error = Dup("</script>\\u0000");
        receipt_seal(r, nullptr);
        return Receipt(r);
}

const char kEdgePayload[] =
        "{\"version\":1,\"receipt_id\":\"0190f5e2-7a3b-7c4d-8e5f-0123456789ab\","
        "\"recorded_at\":\"2026-02-23T10:11:12.123456789+00:00\",\"invocation\":{\"mode\":\"exec\",\"input\":{"
        "\"name\":\"d\xc3\xa9v \xf0\x9f\x98\x80\",\"command\":[\"sh\",\"-c\","
        "\"echo \\\"a\\\\b\\\" / \x7f \\t\\n\\r\\b\\f\\u0001\\u001f\\u001b[0m\",\"\xe2\x80\xa8\xef\xbb\xbf\",\"\"],"
        "\"env\":[],\"workdir\":null,\"sudo\":false}},\"outcome\":{\"exit_code\":-2147483648,\"success\":false,"
        "\"output_sha256\":\"not-a-hash\",\"output_bytes\":18446744073709551615,"
        "\"error\":\"</script>\\\\u0000\"}}";

const char kOracle[] =
        "import json, sys, hashlib\n"
        "mode, path = sys.argv[1], sys.argv[2]\n"
        "data = open(path, 'rb').read()\n"
        "obj = json.loads(data.decode('utf-8'))\n"
        "if mode == 'compact':\n"
        "    out = json.dumps(obj, separators=(',', ':'), ensure_ascii=False).encode()\n"
        "elif mode == 'pretty':\n"
        "    out = json.dumps(obj, indent=2, ensure_ascii=False).encode()\n"
        "else:\n"
        "    out = hashlib.sha256(data).hexdigest().encode()\n"
        "sys.stdout.buffer.write(out)\n";

std::string Oracle(const std::string &mode, const std::string &data)
{
        char path[] = "/tmp/ak_receipt_oracle_XXXXXX";
        int fd = mkstemp(path);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(write(fd, data.data(), data.size()), (ssize_t)data.size());
        close(fd);
        bool ok;
        std::string out = Python(kOracle, {mode, path}, &ok);
        unlink(path);
        EXPECT_TRUE(ok);
        return out;
}

} // namespace

TEST(ReceiptPayload, SeedSampleGolden)
{
        Receipt r = UnsignedReceipt();
        EXPECT_EQ(Payload(r.get()), kSeedPayload);
}

TEST(ReceiptPayload, EveryFieldTypeGolden)
{
        Receipt r = EdgeReceipt();
        EXPECT_EQ(Payload(r.get()), kEdgePayload);
}

TEST(ReceiptPayload, RunWithNullOptionsAndFlags)
{
        Receipt r = UnsignedReceipt();
        free(r->invocation.run.image);
        free(r->invocation.run.backend);
        r->invocation.run.image = r->invocation.run.backend = nullptr;
        r->invocation.run.no_network = r->invocation.run.keep = true;
        r->outcome.exit_code = -1;
        r->outcome.success = false;
        r->outcome.error = Dup("guest died");
        EXPECT_NE(Payload(r.get()).find("\"input\":{\"command\":[\"python3\",\"-c\",\"print('ok')\"],\"image\":null,"
                                        "\"backend\":null,\"profile\":\"moderate\",\"no_network\":true,\"fast\":false,"
                                        "\"keep\":true}},\"outcome\":{\"exit_code\":-1,\"success\":false,"),
                  std::string::npos)
                << Payload(r.get());
        EXPECT_NE(Payload(r.get()).find("\"error\":\"guest died\"}}"), std::string::npos);
}

TEST(ReceiptPayload, PrettyFileLayout)
{
        Receipt r = UnsignedReceipt();
        EXPECT_EQ(Json(r.get(), true), "{\n"
                                       "  \"version\": 1,\n"
                                       "  \"receipt_id\": \"test-receipt-1\",\n"
                                       "  \"recorded_at\": \"2026-02-23T00:00:00Z\",\n"
                                       "  \"invocation\": {\n"
                                       "    \"mode\": \"run\",\n"
                                       "    \"input\": {\n"
                                       "      \"command\": [\n"
                                       "        \"python3\",\n"
                                       "        \"-c\",\n"
                                       "        \"print('ok')\"\n"
                                       "      ],\n"
                                       "      \"image\": \"python:3.12-alpine\",\n"
                                       "      \"backend\": \"docker\",\n"
                                       "      \"profile\": \"moderate\",\n"
                                       "      \"no_network\": false,\n"
                                       "      \"fast\": false,\n"
                                       "      \"keep\": false\n"
                                       "    }\n"
                                       "  },\n"
                                       "  \"outcome\": {\n"
                                       "    \"exit_code\": 0,\n"
                                       "    \"success\": true,\n"
                                       "    \"output_sha256\": \"dc51b8c96c2d745df3bd5590d990230a482fd247123599548e0632fdbf97fc22\",\n"
                                       "    \"output_bytes\": 3,\n"
                                       "    \"error\": null\n"
                                       "  },\n"
                                       "  \"payload_hash_sha256\": \"" +
                                               std::string(r->payload_hash_sha256) +
                                               "\",\n"
                                               "  \"signature\": null\n"
                                               "}");
}

TEST(ReceiptPayload, MatchesPythonJsonOracle)
{
        if (access("/usr/bin/python3", X_OK) != 0)
                GTEST_SKIP() << "oracle needs /usr/bin/python3";
        Key k = NewKey();
        std::vector<Receipt> rs;
        rs.push_back(UnsignedReceipt());
        rs.push_back(EdgeReceipt());
        for (Receipt &r : rs) {
                receipt_seal(r.get(), k.get());
                std::string payload = Payload(r.get());
                EXPECT_EQ(Oracle("compact", payload), payload);
                EXPECT_EQ(Oracle("sha256", payload), r->payload_hash_sha256);
                std::string pretty = Json(r.get(), true);
                EXPECT_EQ(Oracle("pretty", pretty), pretty);
                std::string compact = Json(r.get(), false);
                EXPECT_EQ(Oracle("compact", compact), compact);
        }
}

/* Parsing any valid layout and printing again reproduces the payload. */
TEST(ReceiptPayload, RoundTripThroughEveryLayout)
{
        Key k = NewKey();
        std::vector<Receipt> rs;
        rs.push_back(UnsignedReceipt());
        rs.push_back(EdgeReceipt());
        for (Receipt &r : rs) {
                receipt_seal(r.get(), k.get());
                for (bool pretty : {false, true}) {
                        Receipt back(nullptr);
                        std::string err;
                        ASSERT_EQ(ParseJson(Json(r.get(), pretty), &back, &err), 0) << err;
                        EXPECT_EQ(Payload(back.get()), Payload(r.get()));
                        EXPECT_EQ(Json(back.get(), pretty), Json(r.get(), pretty));
                        EXPECT_EQ(VerifyError(back.get()), "");
                }
        }
}
