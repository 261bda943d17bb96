/* The seed's tests (receipt.rs), ported, plus the model's small pieces. */
#include <errno.h>
#include <gtest/gtest.h>
#include <time.h>

#include <set>

#include "lib/base/uuid.h"
#include "lib/receipt/test_util.h"

using namespace rt;

namespace {

std::vector<std::string> Args(const struct receipt *r)
{
        char **v = nullptr;
        size_t n = 0;
        EXPECT_EQ(receipt_replay_args(r, &v, &n), 0);
        std::vector<std::string> out(v, v + n);
        EXPECT_EQ(v[n], nullptr);
        receipt_strv_free(v, SIZE_MAX);
        return out;
}

} // namespace

/* verify_unsigned_receipt_requires_flag */
TEST(ReceiptSeed, VerifyUnsignedReceiptRequiresFlag)
{
        Receipt rec = UnsignedReceipt();
        EXPECT_EQ(VerifyError(rec.get(), false), "Receipt is unsigned. Pass --allow-unsigned to verify legacy receipts.");
        EXPECT_EQ(VerifyError(rec.get(), true), "");
}

/* verify_receipt_detects_tampering */
TEST(ReceiptSeed, VerifyReceiptDetectsTampering)
{
        Receipt rec = UnsignedReceipt();
        struct receipt_run *run = &rec->invocation.run;
        run->command = (char **)realloc(run->command, (run->n_command + 2) * sizeof(char *));
        run->command[run->n_command++] = Dup("--tampered");
        run->command[run->n_command] = nullptr;
        std::string err = VerifyError(rec.get(), true);
        EXPECT_NE(err.find("Receipt hash mismatch"), std::string::npos) << err;
}

/* write_and_load_receipt_roundtrip */
TEST(ReceiptSeed, WriteAndLoadReceiptRoundtrip)
{
        Receipt rec = UnsignedReceipt();
        char dir[] = "/tmp/ak_receipt_XXXXXX";
        ASSERT_NE(mkdtemp(dir), nullptr);
        std::string path = std::string(dir) + "/receipt.json";

        char *err = nullptr;
        ASSERT_EQ(receipt_write_file(path.c_str(), rec.get(), &err), 0);
        struct receipt *loaded = nullptr;
        ASSERT_EQ(receipt_load_file(path.c_str(), &loaded, &err), 0);
        Receipt l(loaded);

        EXPECT_EQ(l->version, rec->version);
        EXPECT_STREQ(l->receipt_id, rec->receipt_id);
        EXPECT_STREQ(l->payload_hash_sha256, rec->payload_hash_sha256);
        EXPECT_EQ(VerifyError(l.get(), true), "");
        unlink(path.c_str());
        rmdir(dir);
}

/* replay_args_for_exec_include_options */
TEST(ReceiptSeed, ReplayArgsForExecIncludeOptions)
{
        Receipt r(nullptr);
        struct receipt *p = nullptr;
        ASSERT_EQ(receipt_new(&p), 0);
        r.reset(p);
        r->version = RECEIPT_VERSION;
        r->receipt_id = Dup("exec-test");
        r->recorded_at = Dup("2026-02-23T00:00:00Z");
        r->invocation.mode = RECEIPT_MODE_EXEC;
        r->invocation.exec.name = Dup("dev");
        r->invocation.exec.command = Strv({"pytest", "-q"});
        r->invocation.exec.n_command = 2;
        r->invocation.exec.env = Strv({"FOO=bar", "DEBUG=1"});
        r->invocation.exec.n_env = 2;
        r->invocation.exec.workdir = Dup("/workspace");
        r->invocation.exec.sudo = true;
        ASSERT_EQ(receipt_outcome_from_output(0, "", 0, nullptr, &r->outcome), 0);

        EXPECT_EQ(Args(r.get()), (std::vector<std::string>{"exec", "dev", "--env", "FOO=bar", "--env", "DEBUG=1",
                                                           "--workdir", "/workspace", "--sudo", "--", "pytest",
                                                           "-q"}));
}

TEST(Receipt, ReplayArgsForRun)
{
        Receipt r = UnsignedReceipt();
        EXPECT_EQ(Args(r.get()), (std::vector<std::string>{"run", "--image", "python:3.12-alpine", "-B", "docker",
                                                           "--profile", "moderate", "--", "python3", "-c",
                                                           "print('ok')"}));
        r->invocation.run.fast = r->invocation.run.keep = r->invocation.run.no_network = true;
        free(r->invocation.run.image);
        r->invocation.run.image = nullptr;
        free(r->invocation.run.backend);
        r->invocation.run.backend = nullptr;
        EXPECT_EQ(Args(r.get()), (std::vector<std::string>{"run", "--fast", "--keep", "--no-network", "--profile",
                                                           "moderate", "--", "python3", "-c", "print('ok')"}));
}

TEST(Receipt, ReplayArgsForMinimalExec)
{
        Receipt r = UnsignedReceipt();
        receipt_invocation_clear(&r->invocation);
        r->invocation.mode = RECEIPT_MODE_EXEC;
        r->invocation.exec.name = Dup("box");
        EXPECT_EQ(Args(r.get()), (std::vector<std::string>{"exec", "box", "--"}));
}

TEST(Receipt, OutcomeFromCombinedOutput)
{
        struct receipt_outcome o;
        ASSERT_EQ(receipt_outcome_from_output(0, "ok\n", 3, nullptr, &o), 0);
        EXPECT_TRUE(o.success);
        EXPECT_STREQ(o.output_sha256, "dc51b8c96c2d745df3bd5590d990230a482fd247123599548e0632fdbf97fc22");
        EXPECT_EQ(o.output_bytes, 3u);
        EXPECT_EQ(o.error, nullptr);
        receipt_outcome_clear(&o);

        ASSERT_EQ(receipt_outcome_from_output(-9, "", 0, "killed", &o), 0);
        EXPECT_FALSE(o.success);
        EXPECT_EQ(o.exit_code, -9);
        EXPECT_STREQ(o.output_sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        EXPECT_STREQ(o.error, "killed");
        receipt_outcome_clear(&o);

        /* streaming digest gives the same outcome */
        struct crypto_sha256 *h = nullptr;
        uint8_t d[32];
        ASSERT_EQ(crypto_sha256_new(&h), 0);
        crypto_sha256_update(h, "o", 1);
        crypto_sha256_update(h, "k\n", 2);
        crypto_sha256_final(h, d);
        crypto_sha256_free(h);
        ASSERT_EQ(receipt_outcome_from_digest(1, d, 3, nullptr, &o), 0);
        EXPECT_STREQ(o.output_sha256, "dc51b8c96c2d745df3bd5590d990230a482fd247123599548e0632fdbf97fc22");
        EXPECT_FALSE(o.success);
        receipt_outcome_clear(&o);
}

TEST(Receipt, UuidV7)
{
        std::set<std::string> seen;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
        for (int i = 0; i < 1000; i++) {
                char id[37];
                ASSERT_EQ(ak_uuid7(id), 0);
                std::string s(id);
                ASSERT_EQ(s.size(), 36u);
                EXPECT_EQ(s[8], '-');
                EXPECT_EQ(s[13], '-');
                EXPECT_EQ(s[18], '-');
                EXPECT_EQ(s[23], '-');
                EXPECT_EQ(s[14], '7') << s;
                EXPECT_NE(std::string("89ab").find(s[19]), std::string::npos) << s;
                EXPECT_EQ(s.find_first_not_of("0123456789abcdef-"), std::string::npos);
                std::string hexms = s.substr(0, 8) + s.substr(9, 4);
                uint64_t ms = std::stoull(hexms, nullptr, 16);
                EXPECT_LE(now_ms, ms);
                EXPECT_LT(ms, now_ms + 60000);
                seen.insert(s);
        }
        EXPECT_EQ(seen.size(), 1000u);
}

TEST(Receipt, TimeFormatLikeChronoAutoSi)
{
        char t[RECEIPT_TIME_MAX];
        ASSERT_EQ(receipt_format_time(1771841472, 0, t), 0);
        EXPECT_STREQ(t, "2026-02-23T10:11:12+00:00");
        ASSERT_EQ(receipt_format_time(1771841472, 123000000, t), 0);
        EXPECT_STREQ(t, "2026-02-23T10:11:12.123+00:00");
        ASSERT_EQ(receipt_format_time(1771841472, 123456000, t), 0);
        EXPECT_STREQ(t, "2026-02-23T10:11:12.123456+00:00");
        ASSERT_EQ(receipt_format_time(1771841472, 123456789, t), 0);
        EXPECT_STREQ(t, "2026-02-23T10:11:12.123456789+00:00");
        ASSERT_EQ(receipt_format_time(1771841472, 1, t), 0);
        EXPECT_STREQ(t, "2026-02-23T10:11:12.000000001+00:00");
        ASSERT_EQ(receipt_format_time(0, 1000, t), 0);
        EXPECT_STREQ(t, "1970-01-01T00:00:00.000001+00:00");
        EXPECT_EQ(receipt_format_time(0, 1000000000u, t), -ERANGE);
        ASSERT_EQ(receipt_now(t), 0);
        EXPECT_EQ(std::string(t).substr(std::string(t).size() - 6), "+00:00");
}

TEST(Receipt, FinalizeStampsAndSigns)
{
        Key k = NewKey();
        Receipt r = UnsignedReceipt();
        ASSERT_EQ(receipt_finalize(r.get(), k.get()), 0);
        EXPECT_EQ(r->version, 1u);
        EXPECT_EQ(strlen(r->receipt_id), 36u);
        EXPECT_NE(std::string(r->recorded_at).find("+00:00"), std::string::npos);
        ASSERT_NE(r->signature, nullptr);
        EXPECT_STREQ(r->signature->algorithm, "ed25519");
        EXPECT_EQ(strlen(r->signature->key_id), 16u);
        EXPECT_EQ(strlen(r->signature->public_key), 44u);
        EXPECT_EQ(strlen(r->signature->signature), 88u);
        EXPECT_EQ(VerifyError(r.get()), "");

        char kid[17];
        ASSERT_EQ(receipt_key_id(crypto_ed25519_key_public(k.get()), kid), 0);
        EXPECT_STREQ(r->signature->key_id, kid);
}

/* The signer service's path: payload from fields, sign it, assemble. */
TEST(Receipt, SplitApiMatchesSeal)
{
        Key k = NewKey();
        Receipt a = UnsignedReceipt();
        std::string payload = Payload(a.get());
        char hash[65];
        ASSERT_EQ(receipt_payload_hash(payload.data(), payload.size(), hash), 0);
        EXPECT_STREQ(hash, a->payload_hash_sha256);
        struct receipt_signature *sig = nullptr;
        ASSERT_EQ(receipt_sign_payload(k.get(), payload.data(), payload.size(), &sig), 0);
        a->signature = sig;
        EXPECT_EQ(VerifyError(a.get()), "");

        Receipt b = SignedReceipt(k.get());
        /* Ed25519 is deterministic: same key, same payload, same signature */
        EXPECT_STREQ(a->signature->signature, b->signature->signature);
        EXPECT_EQ(Json(a.get(), true), Json(b.get(), true));
}

TEST(Receipt, PayloadRefusesIncompleteModel)
{
        struct receipt *r = nullptr;
        ASSERT_EQ(receipt_new(&r), 0);
        char *p = nullptr;
        size_t n;
        EXPECT_EQ(receipt_payload(r, &p, &n), -EINVAL);
        char *e = nullptr;
        EXPECT_EQ(receipt_verify(r, true, &e), -EBADMSG); /* version 0 first */
        free(e);
        r->version = 1;
        EXPECT_EQ(receipt_verify(r, true, &e), -EINVAL);
        EXPECT_STREQ(e, "Failed to serialize receipt payload");
        free(e);
        receipt_free(r);
        receipt_free(nullptr);
}
