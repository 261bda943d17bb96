// ak-signer end to end: the real binary on loopback, called through lib/rpc's
// client, signing; receipts checked by lib/receipt and by Python.
#include <stdint.h>
#include <string.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "lib/receipt/proto/akwire/v1/signer.pb-c.h"
#include "services/signer/signer.h"
#include "services/signer/signer_fixture.h"

namespace {

using namespace signer_test;

TEST_F(SignerTest, SignsOneReceiptThatBothVerifiersAccept)
{
        ASSERT_TRUE(Start());
        struct stat st;
        ASSERT_EQ(0, stat(key_.c_str(), &st));
        EXPECT_EQ(0600u, st.st_mode & 07777);
        ASSERT_EQ(0, stat((dir_ + "/keys").c_str(), &st));
        EXPECT_EQ(0700u, st.st_mode & 07777);

        Owned o;
        Ak__V1__Receipt *m = Sign(&o, "h\xc3\xa9llo");
        ASSERT_NE(nullptr, m);
        struct receipt *r = CheckReceipt(m);
        ASSERT_NE(nullptr, r);
        EXPECT_EQ(RECEIPT_MODE_RUN, r->invocation.mode);
        EXPECT_STREQ("h\xc3\xa9llo", r->invocation.run.command[1]);
        EXPECT_STREQ("python:3.12-alpine", r->invocation.run.image);
        EXPECT_EQ(nullptr, r->invocation.run.backend);
        EXPECT_TRUE(r->invocation.run.no_network);
        EXPECT_STREQ(kSha, r->outcome.output_sha256);
        EXPECT_STREQ("\xf0\x9f\x98\x80 \x1b[31m/\"\\", r->outcome.error);
        EXPECT_NE(nullptr, strstr(m->json, "\\u001b[31m/\\\"\\\\")) << m->json;

        Owned keys;
        auto list = ListKeys(signer_.Channel(), &keys);
        ASSERT_EQ(1u, list.size());
        EXPECT_TRUE(list[0].active);
        EXPECT_STREQ("ed25519", list[0].algorithm);
        EXPECT_STREQ(list[0].key_id, r->signature->key_id);
        EXPECT_STREQ(list[0].public_key, r->signature->public_key);
        EXPECT_STREQ(m->signature->key_id, r->signature->key_id);
        receipt_free(r);

        if (!HavePython())
                GTEST_SKIP() << "independent check needs python3-cryptography (tools/deps.sh)";
        EXPECT_EQ("", PyVerify({m->json}, list[0].public_key));
}

TEST_F(SignerTest, HealthAndExecInvocations)
{
        ASSERT_TRUE(Start());
        struct ak_error err = {};
        EXPECT_EQ(RPC_OK, rpc_health_check(signer_.Channel(), "ak.v1.Signer", 5000, &err)) << err.msg;
        EXPECT_EQ(RPC_OK, rpc_health_check(signer_.Channel(), "", 5000, &err)) << err.msg;

        Ak__V1__SignReceiptRequest req = AK__V1__SIGN_RECEIPT_REQUEST__INIT;
        Ak__V1__Invocation inv = AK__V1__INVOCATION__INIT;
        Ak__V1__ExecInvocation ex = AK__V1__EXEC_INVOCATION__INIT;
        Ak__V1__ExecutionOutcome out = AK__V1__EXECUTION_OUTCOME__INIT;
        char *cmd[] = {(char *)"pytest", (char *)"-q"};
        char *env[] = {(char *)"FOO=bar", (char *)"DEBUG=1"};
        req.invocation = &inv;
        req.outcome = &out;
        inv.mode_case = AK__V1__INVOCATION__MODE_EXEC;
        inv.exec = &ex;
        ex.name = (char *)"dev";
        ex.command = cmd;
        ex.n_command = 2;
        ex.env = env;
        ex.n_env = 2;
        ex.workdir_opt_case = AK__V1__EXEC_INVOCATION__WORKDIR_OPT_WORKDIR;
        ex.workdir = (char *)"/workspace";
        ex.sudo = true;
        out.exit_code = 3;
        out.output_sha256 = (char *)kSha;
        out.output_bytes = UINT64_MAX;
        Owned o;
        std::string msg;
        ASSERT_EQ(RPC_OK, Call(signer_.Channel(), "SignReceipt", &req.base, &o.m, &msg)) << msg;
        struct receipt *r = CheckReceipt(((Ak__V1__SignReceiptResponse *)o.m)->receipt);
        ASSERT_NE(nullptr, r);
        char **argv = nullptr;
        size_t argc = 0;
        ASSERT_EQ(0, receipt_replay_args(r, &argv, &argc));
        std::string joined;
        for (size_t i = 0; i < argc; i++)
                joined += std::string(i ? " " : "") + argv[i];
        EXPECT_EQ("exec dev --env FOO=bar --env DEBUG=1 --workdir /workspace --sudo -- pytest -q", joined);
        receipt_strv_free(argv, SIZE_MAX);
        EXPECT_EQ(UINT64_MAX, r->outcome.output_bytes);
        EXPECT_FALSE(r->outcome.success);
        receipt_free(r);
}

TEST_F(SignerTest, SignsBatchesAllOrNothing)
{
        ASSERT_TRUE(Start());
        std::vector<RunRequest> items;
        items.reserve(64);
        for (int i = 0; i < 64; i++)
                items.emplace_back("item" + std::to_string(i));
        std::vector<Ak__V1__SignReceiptRequest *> ptrs;
        for (auto &it : items)
                ptrs.push_back(&it.req);
        Ak__V1__SignReceiptBatchRequest batch = AK__V1__SIGN_RECEIPT_BATCH_REQUEST__INIT;
        batch.items = ptrs.data();
        batch.n_items = ptrs.size();
        Owned o;
        std::string msg;
        ASSERT_EQ(RPC_OK, Call(signer_.Channel(), "SignReceiptBatch", &batch.base, &o.m, &msg)) << msg;
        auto *resp = (Ak__V1__SignReceiptBatchResponse *)o.m;
        ASSERT_EQ(64u, resp->n_receipts);
        std::set<std::string> ids;
        std::vector<std::string> jsons;
        for (size_t i = 0; i < resp->n_receipts; i++) {
                struct receipt *r = CheckReceipt(resp->receipts[i]);
                ASSERT_NE(nullptr, r);
                EXPECT_EQ("item" + std::to_string(i), r->invocation.run.command[1]) << "request order";
                ids.insert(r->receipt_id);
                jsons.push_back(resp->receipts[i]->json);
                receipt_free(r);
        }
        EXPECT_EQ(64u, ids.size());
        if (HavePython()) {
                EXPECT_EQ("", PyVerify(jsons));
        }

        /* one bad item fails the whole call, naming its index */
        items[5].out.output_sha256 = (char *)"ABC";
        Owned bad;
        EXPECT_EQ(RPC_INVALID_ARGUMENT, Call(signer_.Channel(), "SignReceiptBatch", &batch.base, &bad.m, &msg));
        EXPECT_NE(std::string::npos, msg.find("items[5].outcome.output_sha256: must be 64 lowercase hex digits"))
                << msg;
        items[5].out.output_sha256 = (char *)kSha;
        items[63].req.invocation = nullptr;
        EXPECT_EQ(RPC_INVALID_ARGUMENT, Call(signer_.Channel(), "SignReceiptBatch", &batch.base, &bad.m, &msg));
        EXPECT_NE(std::string::npos, msg.find("items[63].invocation: missing")) << msg;
        items[63].req.invocation = &items[63].inv;

        /* at most 1024 */
        std::vector<Ak__V1__SignReceiptRequest *> many(1025, &items[0].req);
        batch.items = many.data();
        batch.n_items = many.size();
        EXPECT_EQ(RPC_INVALID_ARGUMENT, Call(signer_.Channel(), "SignReceiptBatch", &batch.base, &bad.m, &msg));
        EXPECT_NE(std::string::npos, msg.find("items: 1025 receipts, at most 1024 per call")) << msg;
        batch.n_items = 1024;
        Owned full;
        ASSERT_EQ(RPC_OK, Call(signer_.Channel(), "SignReceiptBatch", &batch.base, &full.m, &msg)) << msg;
        EXPECT_EQ(1024u, ((Ak__V1__SignReceiptBatchResponse *)full.m)->n_receipts);
        /* answers that cannot fit in a message are refused early, not built */
        std::string control(RECEIPT_PROTO_MAX_STRING, '\x01');
        std::vector<char *> heavy(7, (char *)control.c_str());
        for (auto &it : items) {
                it.run.command = heavy.data();
                it.run.n_command = heavy.size();
        }
        batch.items = ptrs.data();
        batch.n_items = 12; /* 10.5 MiB in; each receipt's JSON alone is about 5 MiB */
        EXPECT_EQ(RPC_RESOURCE_EXHAUSTED, Call(signer_.Channel(), "SignReceiptBatch", &batch.base, &bad.m, &msg));
        EXPECT_NE(std::string::npos, msg.find("more than the 16777216-byte message limit; send fewer per call"))
                << msg;
        batch.n_items = 1;
        Owned one;
        ASSERT_EQ(RPC_OK, Call(signer_.Channel(), "SignReceiptBatch", &batch.base, &one.m, &msg)) << msg;
        batch.n_items = 0;
        Owned empty;
        ASSERT_EQ(RPC_OK, Call(signer_.Channel(), "SignReceiptBatch", &batch.base, &empty.m, &msg)) << msg;
        EXPECT_EQ(0u, ((Ak__V1__SignReceiptBatchResponse *)empty.m)->n_receipts);
}

/* Sends request bytes the public C types cannot hold, through the mirror. */
int CallWire(struct rpc_channel *ch, const Akwire__V1__SignReceiptRequest *req, std::string *msg)
{
        struct ak_error err = {};
        ProtobufCMessage *resp = nullptr;
        int code = rpc_unary(ch, &signer_wire_service_descriptor, "SignReceipt", &req->base, &kOpts, &resp, &err);
        if (resp)
                protobuf_c_message_free_unpacked(resp, nullptr);
        *msg = err.msg;
        return code;
}

TEST_F(SignerTest, RefusesBadRequestsNamingTheField)
{
        ASSERT_TRUE(Start());
        std::string msg;
        Owned o;
        RunRequest rr;
        rr.req.invocation = nullptr;
        EXPECT_EQ(RPC_INVALID_ARGUMENT, Call(signer_.Channel(), "SignReceipt", &rr.req.base, &o.m, &msg));
        EXPECT_NE(std::string::npos, msg.find("invocation: missing (set run or exec)")) << msg;
        rr.req.invocation = &rr.inv;
        rr.inv.mode_case = AK__V1__INVOCATION__MODE__NOT_SET;
        EXPECT_EQ(RPC_INVALID_ARGUMENT, Call(signer_.Channel(), "SignReceipt", &rr.req.base, &o.m, &msg));
        EXPECT_NE(std::string::npos, msg.find("invocation.mode: not set")) << msg;
        rr.inv.mode_case = AK__V1__INVOCATION__MODE_RUN;
        rr.req.outcome = nullptr;
        EXPECT_EQ(RPC_INVALID_ARGUMENT, Call(signer_.Channel(), "SignReceipt", &rr.req.base, &o.m, &msg));
        EXPECT_NE(std::string::npos, msg.find("outcome: missing")) << msg;
        rr.req.outcome = &rr.out;
        rr.out.output_sha256 = (char *)"abc";
        EXPECT_EQ(RPC_INVALID_ARGUMENT, Call(signer_.Channel(), "SignReceipt", &rr.req.base, &o.m, &msg));
        EXPECT_NE(std::string::npos, msg.find("outcome.output_sha256: must be 64 lowercase hex digits")) << msg;

        /* bytes a C string cannot carry, sent through the mirror */
        Akwire__V1__SignReceiptRequest req = AKWIRE__V1__SIGN_RECEIPT_REQUEST__INIT;
        Akwire__V1__Invocation inv = AKWIRE__V1__INVOCATION__INIT;
        Akwire__V1__RunInvocation run = AKWIRE__V1__RUN_INVOCATION__INIT;
        Akwire__V1__ExecutionOutcome out = AKWIRE__V1__EXECUTION_OUTCOME__INIT;
        std::string a = "echo", b("rm\0-rf", 6), bad_utf8 = "\xff";
        ProtobufCBinaryData cmd[2] = {{a.size(), (uint8_t *)a.data()}, {b.size(), (uint8_t *)b.data()}};
        req.invocation = &inv;
        req.outcome = &out;
        inv.mode_case = AKWIRE__V1__INVOCATION__MODE_RUN;
        inv.run = &run;
        run.command = cmd;
        run.n_command = 2;
        out.output_sha256 = {64, (uint8_t *)kSha};
        EXPECT_EQ(RPC_INVALID_ARGUMENT, CallWire(signer_.Channel(), &req, &msg));
        EXPECT_NE(std::string::npos, msg.find("invocation.run.command[1]: contains a NUL byte at offset 2")) << msg;
        cmd[1] = {bad_utf8.size(), (uint8_t *)bad_utf8.data()};
        EXPECT_EQ(RPC_INVALID_ARGUMENT, CallWire(signer_.Channel(), &req, &msg));
        EXPECT_NE(std::string::npos, msg.find("invocation.run.command[1]: not valid UTF-8")) << msg;
        std::string huge(RECEIPT_PROTO_MAX_STRING + 1, 'x');
        cmd[1] = {huge.size(), (uint8_t *)huge.data()};
        EXPECT_EQ(RPC_INVALID_ARGUMENT, CallWire(signer_.Channel(), &req, &msg));
        EXPECT_NE(std::string::npos, msg.find("invocation.run.command[1]: 131073 bytes, more than the 131072"))
                << msg;
        cmd[1] = cmd[0];
        EXPECT_EQ(RPC_OK, CallWire(signer_.Channel(), &req, &msg)) << msg;
}

TEST_F(SignerTest, ConcurrentClients)
{
        ASSERT_TRUE(Start());
        const int kThreads = 8, kCalls = 25;
        std::vector<std::vector<std::string>> jsons(kThreads);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; t++)
                threads.emplace_back([&, t] {
                        struct rpc_channel *ch = nullptr;
                        struct ak_error err;
                        if (rpc_channel_new(signer_.Address().c_str(), nullptr, &ch, &err) != 0)
                                return;
                        for (int i = 0; i < kCalls; i++) {
                                RunRequest rr("t" + std::to_string(t) + "-" + std::to_string(i));
                                ProtobufCMessage *resp = nullptr;
                                if (rpc_unary(ch, &ak__v1__signer__descriptor, "SignReceipt", &rr.req.base, &kOpts,
                                              &resp, &err) != RPC_OK)
                                        break;
                                jsons[t].push_back(((Ak__V1__SignReceiptResponse *)resp)->receipt->json);
                                protobuf_c_message_free_unpacked(resp, nullptr);
                        }
                        rpc_channel_free(ch);
                });
        for (auto &th : threads)
                th.join();
        std::set<std::string> ids;
        std::vector<std::string> all;
        for (int t = 0; t < kThreads; t++) {
                ASSERT_EQ((size_t)kCalls, jsons[t].size()) << "thread " << t;
                for (int i = 0; i < kCalls; i++) {
                        struct receipt *r = nullptr;
                        ASSERT_EQ(0, receipt_from_json(jsons[t][i].data(), jsons[t][i].size(), &r, nullptr));
                        EXPECT_EQ(0, receipt_verify(r, false, nullptr));
                        EXPECT_EQ("t" + std::to_string(t) + "-" + std::to_string(i), r->invocation.run.command[1]);
                        ids.insert(r->receipt_id);
                        receipt_free(r);
                        all.push_back(jsons[t][i]);
                        g_transcript += jsons[t][i];
                }
        }
        EXPECT_EQ((size_t)(kThreads * kCalls), ids.size());
        if (HavePython()) {
                EXPECT_EQ("", PyVerify(all));
        }
}

}  // namespace
