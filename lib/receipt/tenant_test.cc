/* The tenant: unsigned metadata beside the signature (receipt.h). It must
 * never change the payload, the hash or the signature, and a receipt without
 * one must stay agentkernel's bytes. */
#include <errno.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/stat.h>

#include "lib/receipt/test_util.h"

using namespace rt;

namespace {

/* `json` with `,<sep>"tenant":<sp>"<t>"` put before its closing brace, as a
 * writer that knows the key would place it last. */
std::string WithTenantKey(const std::string &json, bool pretty, const std::string &t)
{
        size_t end = json.rfind(pretty ? "\n}" : "}");
        EXPECT_NE(end, std::string::npos);
        std::string key = pretty ? ",\n  \"tenant\": \"" + t + "\"" : ",\"tenant\":\"" + t + "\"";
        return json.substr(0, end) + key + json.substr(end);
}

} // namespace

TEST(ReceiptTenant, WrittenLastAndOnlyWhenSet)
{
        Key k = NewKey();
        Receipt r = SignedReceipt(k.get());
        const std::string pretty = Json(r.get(), true), compact = Json(r.get(), false);
        EXPECT_EQ(pretty.find("tenant"), std::string::npos) << "no tenant: agentkernel's bytes";

        r->tenant = Dup("team-a");
        EXPECT_EQ(Json(r.get(), true), WithTenantKey(pretty, true, "team-a"));
        EXPECT_EQ(Json(r.get(), false), WithTenantKey(compact, false, "team-a"));

        /* Removing it gives the old bytes back. */
        free(r->tenant);
        r->tenant = nullptr;
        EXPECT_EQ(Json(r.get(), true), pretty);
}

TEST(ReceiptTenant, NotInThePayloadHashOrSignature)
{
        Key k = NewKey();
        Receipt plain = SignedReceipt(k.get());
        const std::string payload = Payload(plain.get());
        const std::string hash = plain->payload_hash_sha256, sig = plain->signature->signature;

        plain->tenant = Dup("team-a");
        EXPECT_EQ(Payload(plain.get()), payload);
        EXPECT_EQ(VerifyError(plain.get()), "");
        EXPECT_EQ(payload.find("tenant"), std::string::npos);

        /* Sealing with a tenant set signs the same bytes: same hash, and
         * Ed25519 is deterministic, so the same signature. */
        ASSERT_EQ(receipt_seal(plain.get(), k.get()), 0);
        EXPECT_EQ(std::string(plain->payload_hash_sha256), hash);
        EXPECT_EQ(std::string(plain->signature->signature), sig);
        EXPECT_STREQ(plain->tenant, "team-a") << "sealing keeps the tenant";

        /* And changing the tenant is, by design, invisible to verification. */
        free(plain->tenant);
        plain->tenant = Dup("team-b");
        EXPECT_EQ(VerifyError(plain.get()), "");
}

TEST(ReceiptTenant, ParseRoundTripsItAndStillVerifies)
{
        Key k = NewKey();
        Receipt r = SignedReceipt(k.get());
        r->tenant = Dup("team-a");
        for (bool pretty : {true, false}) {
                std::string text = Json(r.get(), pretty), err;
                Receipt back(nullptr);
                ASSERT_EQ(ParseJson(text, &back, &err), 0) << err;
                EXPECT_STREQ(back->tenant, "team-a");
                EXPECT_EQ(VerifyError(back.get()), "");
                EXPECT_EQ(Json(back.get(), pretty), text);
                EXPECT_EQ(Payload(back.get()), Payload(r.get()));
        }
}

TEST(ReceiptTenant, AbsentOrNullIsNone)
{
        Receipt base = UnsignedReceipt();
        std::string text = Json(base.get(), false), err;
        Receipt r(nullptr);
        ASSERT_EQ(ParseJson(text, &r, &err), 0) << err;
        EXPECT_EQ(r->tenant, nullptr);
        EXPECT_EQ(Json(r.get(), false), text) << "a receipt without a tenant is unchanged byte for byte";

        std::string null_tenant = text.substr(0, text.size() - 1) + ",\"tenant\":null}";
        ASSERT_EQ(ParseJson(null_tenant, &r, &err), 0) << err;
        EXPECT_EQ(r->tenant, nullptr);
        EXPECT_EQ(Json(r.get(), false), text);

        /* Anywhere among the keys, as serde reads an object. */
        std::string first = "{\"tenant\":\"t0\"," + text.substr(1);
        ASSERT_EQ(ParseJson(first, &r, &err), 0) << err;
        EXPECT_STREQ(r->tenant, "t0");

        /* Only the top level names the tenant: one inside invocation or
         * outcome is an unknown key there, ignored as serde ignores it. */
        std::string nested = text;
        nested.replace(nested.find("\"exit_code\""), 11, "\"tenant\":\"x\",\"exit_code\"");
        ASSERT_EQ(ParseJson(nested, &r, &err), 0) << err;
        EXPECT_EQ(r->tenant, nullptr);
}

TEST(ReceiptTenant, WrongTypeOrTwiceRefused)
{
        std::string text = Json(UnsignedReceipt().get(), false), err;
        std::string body = text.substr(0, text.size() - 1);
        Receipt r(nullptr);

        for (const char *bad : {"7", "true", "[\"a\"]", "{\"name\":\"a\"}"}) {
                EXPECT_EQ(ParseJson(body + ",\"tenant\":" + bad + "}", &r, &err), -EINVAL) << bad;
                EXPECT_NE(err.find("(field `tenant`)"), std::string::npos) << bad << ": " << err;
        }
        EXPECT_EQ(ParseJson(body + ",\"tenant\":\"a\",\"tenant\":\"b\"}", &r, &err), -EINVAL);
        EXPECT_EQ(err, "duplicate field `tenant` in struct ExecutionReceipt");
        EXPECT_EQ(ParseJson(body + ",\"tenant\":\"a\\u0000b\"}", &r, &err), -EINVAL);
        EXPECT_NE(err.find("U+0000"), std::string::npos) << err;
}

TEST(ReceiptTenant, SequenceFormHasNone)
{
        /* serde's sequence form has exactly the struct's seven fields:
         * agentkernel refuses an eighth element, and so do we. */
        Receipt u = UnsignedReceipt();
        std::string obj = Json(u.get(), false), err;
        Receipt r(nullptr);
        ASSERT_EQ(ParseJson(obj, &r, &err), 0);
        const std::string payload = Payload(r.get());
        /* Build the array form from the object's values. */
        std::string inv = obj.substr(obj.find("\"invocation\":") + 13);
        inv = inv.substr(0, inv.find(",\"outcome\":"));
        std::string out = obj.substr(obj.find("\"outcome\":") + 10);
        out = out.substr(0, out.find(",\"payload_hash_sha256\":"));
        std::string arr = "[1,\"test-receipt-1\",\"2026-02-23T00:00:00Z\"," + inv + "," + out + ",\"" +
                          u->payload_hash_sha256 + "\",null]";
        ASSERT_EQ(ParseJson(arr, &r, &err), 0) << err;
        EXPECT_EQ(r->tenant, nullptr);
        EXPECT_EQ(Payload(r.get()), payload);
        std::string arr8 = arr.substr(0, arr.size() - 1) + ",\"team-a\"]";
        EXPECT_EQ(ParseJson(arr8, &r, &err), -EINVAL);
        EXPECT_NE(err.find("invalid length 8"), std::string::npos) << err;
}

TEST(ReceiptTenant, FileRoundTrip)
{
        char dir[] = "/tmp/ak_receipt_tenant_XXXXXX";
        ASSERT_NE(mkdtemp(dir), nullptr);
        std::string path = std::string(dir) + "/r.json";
        Key k = NewKey();
        Receipt r = SignedReceipt(k.get());
        r->tenant = Dup("team-a");
        char *err = nullptr;
        ASSERT_EQ(receipt_write_file(path.c_str(), r.get(), &err), 0) << err;
        struct receipt *back = nullptr;
        ASSERT_EQ(receipt_verify_file(path.c_str(), false, &back, &err), 0) << err;
        Receipt b(back);
        EXPECT_STREQ(b->tenant, "team-a");
        unlink(path.c_str());
        rmdir(dir);
}
