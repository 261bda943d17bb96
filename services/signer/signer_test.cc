// ak-signer end to end: the real binary on loopback, called through lib/rpc's
// client; receipts checked by lib/receipt and by an independent verifier
// (Python's cryptography package).
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "lib/encoding/base64.h"
#include "lib/encoding/hex.h"
#include "lib/receipt/receipt.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/signer.pb-c.h"
#include "services/signer/akwire/v1/signer.pb-c.h"
#include "services/signer/receipt_proto.h"
#include "services/signer/signer.h"
#include "services/signer/signer_harness.h"

namespace {

using namespace signer_test;

const char kSha[] = "4a3ed8147e37876adc8f76328e5abcc1b470e6acfc18efea0135f983604953a5";

/* Every response these tests receive, packed, to search for key bytes. */
std::string g_transcript;

void Record(const ProtobufCMessage *m)
{
        std::string buf(protobuf_c_message_get_packed_size(m), '\0');
        protobuf_c_message_pack(m, (uint8_t *)buf.data());
        g_transcript += buf;
}

/* The request for `ak run -- echo <word>`, as the executor would send it. */
struct RunRequest {
        Ak__V1__SignReceiptRequest req = AK__V1__SIGN_RECEIPT_REQUEST__INIT;
        Ak__V1__Invocation inv = AK__V1__INVOCATION__INIT;
        Ak__V1__RunInvocation run = AK__V1__RUN_INVOCATION__INIT;
        Ak__V1__ExecutionOutcome out = AK__V1__EXECUTION_OUTCOME__INIT;
        std::string word;
        char *command[2];

        explicit RunRequest(const std::string &w = "hi") : word(w)
        {
                req.invocation = &inv;
                req.outcome = &out;
                inv.mode_case = AK__V1__INVOCATION__MODE_RUN;
                inv.run = &run;
                command[0] = (char *)"echo";
                command[1] = (char *)word.c_str();
                run.command = command;
                run.n_command = 2;
                run.image_opt_case = AK__V1__RUN_INVOCATION__IMAGE_OPT_IMAGE;
                run.image = (char *)"python:3.12-alpine";
                run.profile = (char *)"moderate";
                run.no_network = true;
                out.exit_code = 0;
                out.success = true;
                out.output_sha256 = (char *)kSha;
                out.output_bytes = 3;
                out.error_opt_case = AK__V1__EXECUTION_OUTCOME__ERROR_OPT_ERROR;
                out.error = (char *)"\xf0\x9f\x98\x80 \x1b[31m/\"\\";
        }
};

const struct rpc_call_options kOpts = {.timeout_ms = 20000};

int Call(struct rpc_channel *ch, const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp,
         std::string *msg = nullptr, const struct rpc_call_options *opts = &kOpts)
{
        struct ak_error err = {};
        int code = rpc_unary(ch, &ak__v1__signer__descriptor, method, req, opts, resp, &err);
        if (code == RPC_OK)
                Record(*resp);
        if (msg)
                *msg = code == RPC_OK ? "" : err.msg;
        return code;
}

struct Owned {
        ProtobufCMessage *m = nullptr;
        ~Owned()
        {
                if (m)
                        protobuf_c_message_free_unpacked(m, nullptr);
        }
};

/* Parses and verifies Receipt.json, checks the message's fields carry the
 * same receipt, and returns it. */
struct receipt *CheckReceipt(const Ak__V1__Receipt *m)
{
        struct receipt *r = nullptr;
        char *error = nullptr;
        EXPECT_EQ(0, receipt_from_json(m->json, strlen(m->json), &r, &error)) << error;
        free(error);
        if (!r)
                return nullptr;
        error = nullptr;
        EXPECT_EQ(0, receipt_verify(r, false, &error)) << error;
        free(error);
        char *pretty = nullptr;
        size_t len;
        EXPECT_EQ(0, receipt_to_json(r, true, &pretty, &len));
        EXPECT_STREQ(m->json, pretty) << "Receipt.json is receipt_to_json(pretty)";
        free(pretty);
        struct receipt *f = nullptr;
        struct ak_error err = {};
        EXPECT_EQ(0, receipt_proto_to_receipt(m, &f, &err)) << err.msg;
        if (f) {
                char *a = nullptr, *b = nullptr;
                size_t la, lb;
                EXPECT_EQ(0, receipt_to_json(f, false, &a, &la));
                EXPECT_EQ(0, receipt_to_json(r, false, &b, &lb));
                EXPECT_STREQ(a, b) << "the fields and the JSON agree";
                free(a);
                free(b);
                receipt_free(f);
        }
        EXPECT_EQ(1u, m->version);
        EXPECT_EQ(36u, strlen(m->receipt_id));
        EXPECT_EQ('7', m->receipt_id[14]) << "UUIDv7: " << m->receipt_id;
        EXPECT_NE(nullptr, strstr(m->recorded_at, "+00:00")) << m->recorded_at;
        return r;
}

/* The independent verifier: Python rebuilds serde_json's payload and pretty
 * layout and checks hash, key id, expected public key and signature. */
const char kPyVerify[] = R"PY(
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

want_key = sys.argv[1]
for path in sys.argv[2:]:
    text = open(path, encoding="utf-8").read()
    r = json.loads(text)
    assert json.dumps(r, indent=2, ensure_ascii=False) == text, "layout of " + path
    p = json.dumps({k: r[k] for k in ("version", "receipt_id", "recorded_at", "invocation", "outcome")},
                   separators=(",", ":"), ensure_ascii=False).encode()
    assert hashlib.sha256(p).hexdigest() == r["payload_hash_sha256"], "hash of " + path
    sig = r["signature"]
    assert sig["algorithm"] == "ed25519"
    pub = base64.b64decode(sig["public_key"], validate=True)
    assert want_key in ("-", sig["public_key"]), "key of " + path
    assert hashlib.sha256(pub).hexdigest()[:16] == sig["key_id"], "key id of " + path
    Ed25519PublicKey.from_public_bytes(pub).verify(base64.b64decode(sig["signature"], validate=True), p)
print("verified %d" % (len(sys.argv) - 2))
)PY";

bool HavePython()
{
        return system("/usr/bin/python3 -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' "
                      ">/dev/null 2>&1") == 0;
}

/* Runs the Python verifier over these receipts' JSON; "" when all verify. */
std::string PyVerify(const std::vector<std::string> &jsons, const std::string &want_key = "-")
{
        std::string dir = TempDir("akspy");
        std::string script = dir + "/v.py";
        WriteFile(script, kPyVerify, 0600);
        std::string cmd = "/usr/bin/python3 " + script + " '" + want_key + "'";
        for (size_t i = 0; i < jsons.size(); i++) {
                std::string f = dir + "/r" + std::to_string(i) + ".json";
                WriteFile(f, jsons[i], 0600);
                cmd += " " + f;
        }
        cmd += " 2>&1";
        std::string out;
        FILE *p = popen(cmd.c_str(), "r");
        char buf[4096];
        size_t n;
        while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0)
                out.append(buf, n);
        int st = p ? pclose(p) : -1;
        RemoveTree(dir);
        std::string want = "verified " + std::to_string(jsons.size()) + "\n";
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 && out == want ? "" : out;
}

std::vector<Ak__V1__PublicKey> ListKeys(struct rpc_channel *ch, Owned *keep)
{
        Ak__V1__ListPublicKeysRequest req = AK__V1__LIST_PUBLIC_KEYS_REQUEST__INIT;
        std::string msg;
        EXPECT_EQ(RPC_OK, Call(ch, "ListPublicKeys", &req.base, &keep->m, &msg)) << msg;
        std::vector<Ak__V1__PublicKey> keys;
        auto *resp = (Ak__V1__ListPublicKeysResponse *)keep->m;
        for (size_t i = 0; resp && i < resp->n_keys; i++)
                keys.push_back(*resp->keys[i]);
        return keys;
}

class SignerTest : public ::testing::Test {
      protected:
        void SetUp() override
        {
                dir_ = TempDir("aksig");
                key_ = dir_ + "/keys/signer.pkcs8";
        }
        void TearDown() override
        {
                if (signer_.Running()) {
                        EXPECT_EQ(0, signer_.Stop()) << "a clean exit (and no leaks under ASan): " << signer_.Output();
                }
                CheckNoKeyLeaked();
                RemoveTree(dir_);
        }
        /* Remembers the current key file's secret, to search for later. */
        void NoteKey()
        {
                std::string der = ReadFile(key_);
                if (der.size() == CRYPTO_PKCS8_ED25519_V2_LEN)
                        secrets_.push_back(der);
        }
        bool Start(const std::vector<std::string> &extra = {}, const struct rpc_tls *tls = nullptr)
        {
                std::vector<std::string> args = {"--key", key_};
                args.insert(args.end(), extra.begin(), extra.end());
                bool ok = signer_.Start(args, tls);
                NoteKey();
                return ok;
        }
        /* Neither the process's output nor any response carried a private key. */
        void CheckNoKeyLeaked()
        {
                std::string haystack = g_transcript + signer_.Output() + output_;
                for (const std::string &der : secrets_) {
                        std::string seed = der.substr(16, 32);
                        char b64[128], hex[160], derb64[160];
                        ASSERT_EQ(0, base64_encode(seed.data(), seed.size(), b64, sizeof(b64)));
                        ASSERT_EQ(0, hex_encode(seed.data(), seed.size(), hex, sizeof(hex)));
                        ASSERT_EQ(0, base64_encode(der.data(), der.size(), derb64, sizeof(derb64)));
                        EXPECT_EQ(std::string::npos, haystack.find(seed));
                        EXPECT_EQ(std::string::npos, haystack.find(b64));
                        EXPECT_EQ(std::string::npos, haystack.find(std::string(b64, 40))) << "unpadded prefix";
                        EXPECT_EQ(std::string::npos, haystack.find(hex));
                        EXPECT_EQ(std::string::npos, haystack.find(derb64));
                }
                g_transcript.clear();
        }
        Ak__V1__Receipt *Sign(Owned *keep, const std::string &word = "hi")
        {
                RunRequest rr(word);
                std::string msg;
                EXPECT_EQ(RPC_OK, Call(signer_.Channel(), "SignReceipt", &rr.req.base, &keep->m, &msg)) << msg;
                auto *resp = (Ak__V1__SignReceiptResponse *)keep->m;
                return resp ? resp->receipt : nullptr;
        }
        Signer signer_;
        std::string dir_, key_, output_;
        std::vector<std::string> secrets_;
};

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

TEST_F(SignerTest, RotationNeedsTheAdminTokenAndKeepsOldKeysListed)
{
        std::string token = dir_ + "/admin.token";
        ASSERT_TRUE(WriteFile(token, "s3cret-t0ken\n", 0600));
        ASSERT_TRUE(Start({"--admin-token-file", token}));
        Owned before;
        Ak__V1__Receipt *old = Sign(&before, "before");
        ASSERT_NE(nullptr, old);

        Ak__V1__RotateKeyRequest req = AK__V1__ROTATE_KEY_REQUEST__INIT;
        std::string msg;
        Owned o;
        EXPECT_EQ(RPC_PERMISSION_DENIED, Call(signer_.Channel(), "RotateKey", &req.base, &o.m, &msg));
        EXPECT_NE(std::string::npos, msg.find("RotateKey needs the admin token")) << msg;
        struct rpc_call_options wrong = kOpts;
        wrong.bearer_token = "s3cret-t0keN";
        EXPECT_EQ(RPC_PERMISSION_DENIED, Call(signer_.Channel(), "RotateKey", &req.base, &o.m, &msg, &wrong));
        EXPECT_NE(std::string::npos, msg.find("wrong admin token")) << msg;
        wrong.bearer_token = "s3cret-t0ke";
        EXPECT_EQ(RPC_PERMISSION_DENIED, Call(signer_.Channel(), "RotateKey", &req.base, &o.m, &msg, &wrong));
        EXPECT_EQ(std::string::npos, msg.find("s3cret")) << "never echo tokens: " << msg;

        struct rpc_call_options admin = kOpts;
        admin.bearer_token = "s3cret-t0ken";
        ASSERT_EQ(RPC_OK, Call(signer_.Channel(), "RotateKey", &req.base, &o.m, &msg, &admin)) << msg;
        NoteKey();
        auto *fresh = (Ak__V1__PublicKey *)o.m;
        EXPECT_TRUE(fresh->active);
        EXPECT_STRNE(old->signature->key_id, fresh->key_id);

        Owned keys;
        auto list = ListKeys(signer_.Channel(), &keys);
        ASSERT_EQ(2u, list.size());
        EXPECT_STREQ(fresh->key_id, list[0].key_id);
        EXPECT_TRUE(list[0].active);
        EXPECT_STREQ(old->signature->key_id, list[1].key_id);
        EXPECT_FALSE(list[1].active);
        EXPECT_GT(list[0].created_at_ms, list[1].created_at_ms);

        /* the old receipt still verifies, with the listed old key */
        struct receipt *r = CheckReceipt(old);
        ASSERT_NE(nullptr, r);
        EXPECT_STREQ(list[1].public_key, r->signature->public_key);
        receipt_free(r);
        /* new receipts carry the new key */
        Owned after;
        Ak__V1__Receipt *now = Sign(&after, "after");
        ASSERT_NE(nullptr, now);
        EXPECT_STREQ(fresh->key_id, now->signature->key_id);
        EXPECT_STREQ(list[0].public_key, now->signature->public_key);
        r = CheckReceipt(now);
        receipt_free(r);
        if (HavePython()) {
                EXPECT_EQ("", PyVerify({old->json}, list[1].public_key));
                EXPECT_EQ("", PyVerify({now->json}, list[0].public_key));
                EXPECT_NE("", PyVerify({old->json}, list[0].public_key)) << "the verifier can fail";
        }
        EXPECT_NE(std::string::npos, signer_.Output().find("rotated the signing key")) << signer_.Output();
}

TEST_F(SignerTest, RotateKeyIsOffWithoutAnAdminToken)
{
        ASSERT_TRUE(Start());
        Ak__V1__RotateKeyRequest req = AK__V1__ROTATE_KEY_REQUEST__INIT;
        struct rpc_call_options admin = kOpts;
        admin.bearer_token = "anything";
        std::string msg;
        Owned o;
        EXPECT_EQ(RPC_PERMISSION_DENIED, Call(signer_.Channel(), "RotateKey", &req.base, &o.m, &msg, &admin));
        EXPECT_NE(std::string::npos, msg.find("start ak-signer with --admin-token-file")) << msg;
        Owned keys;
        EXPECT_EQ(1u, ListKeys(signer_.Channel(), &keys).size());
}

TEST_F(SignerTest, RotateFlagAndRestart)
{
        ASSERT_TRUE(Start());
        Owned first;
        Ak__V1__Receipt *old = Sign(&first);
        ASSERT_NE(nullptr, old);
        std::string old_json = old->json;
        /* not beside a running signer */
        RunResult busy = RunSigner({"--key", key_, "--rotate"});
        output_ += busy.out + busy.err;
        EXPECT_EQ(1, busy.exit_code);
        EXPECT_NE(std::string::npos, busy.err.find("another ak-signer is using " + key_)) << busy.err;
        EXPECT_EQ(0, signer_.Stop());
        output_ += signer_.Output();

        RunResult rot = RunSigner({"--key", key_, "--rotate"});
        output_ += rot.out + rot.err;
        EXPECT_EQ(0, rot.exit_code) << rot.err;
        EXPECT_NE(std::string::npos, rot.err.find("is retired and stays listed")) << rot.err;
        ASSERT_TRUE(Start());
        Owned keys;
        auto list = ListKeys(signer_.Channel(), &keys);
        ASSERT_EQ(2u, list.size());
        EXPECT_TRUE(list[0].active);
        EXPECT_NE(std::string::npos, rot.err.find(std::string("key ") + list[0].key_id + " is active"));
        EXPECT_NE(std::string::npos, old_json.find(list[1].key_id));
        Owned second;
        Ak__V1__Receipt *now = Sign(&second);
        ASSERT_NE(nullptr, now);
        EXPECT_STREQ(list[0].key_id, now->signature->key_id);
}

TEST_F(SignerTest, RefusesKeyFilesOthersCanRead)
{
        ASSERT_TRUE(Start());
        EXPECT_EQ(0, signer_.Stop());
        output_ += signer_.Output();
        ASSERT_EQ(0, chmod(key_.c_str(), 0644));
        RunResult r = RunSigner({"--key", key_, "--listen", "127.0.0.1:0"});
        output_ += r.out + r.err;
        EXPECT_EQ(1, r.exit_code);
        EXPECT_EQ("", r.out) << "never listened";
        EXPECT_EQ("ak-signer: signing key " + key_ + " is accessible by group or others (mode 0644); run: chmod 600 " +
                          key_ + "\n",
                  r.err);
        ASSERT_EQ(0, chmod(key_.c_str(), 0600));
        ASSERT_EQ(0, chmod((key_ + ".d").c_str(), 0755));
        r = RunSigner({"--key", key_, "--listen", "127.0.0.1:0"});
        EXPECT_EQ(1, r.exit_code);
        EXPECT_NE(std::string::npos, r.err.find("run: chmod 700 " + key_ + ".d")) << r.err;
        ASSERT_EQ(0, chmod((key_ + ".d").c_str(), 0700));

        std::string token = dir_ + "/admin.token";
        ASSERT_TRUE(WriteFile(token, "t", 0644));
        r = RunSigner({"--key", key_, "--listen", "127.0.0.1:0", "--admin-token-file", token});
        EXPECT_EQ(1, r.exit_code);
        EXPECT_NE(std::string::npos, r.err.find("run: chmod 600 " + token)) << r.err;
        r = RunSigner({"--key", key_});
        EXPECT_EQ(2, r.exit_code);
        EXPECT_NE(std::string::npos, r.err.find("nothing to do")) << r.err;
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

TEST_F(SignerTest, ServesMutualTls)
{
        /* a throwaway PKI: one CA, a server certificate for 127.0.0.1, a client certificate */
        std::string pki = dir_ + "/pki";
        const char script[] = R"SH(set -eu
mkdir -p "$1" && cd "$1"
q() { "$@" >/dev/null 2>&1; }
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=ak signer test ca" \
        -keyout ca.key -out ca.pem
for n in server client; do
        q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$n" -keyout $n.key -out $n.csr
done
printf 'subjectAltName=IP:127.0.0.1\n' >server.ext
q openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem
q openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem
)SH";
        ASSERT_TRUE(WriteFile(dir_ + "/pki.sh", script, 0600));
        ASSERT_EQ(0, system(("sh '" + dir_ + "/pki.sh' '" + pki + "'").c_str())) << "openssl missing? tools/deps.sh";
        std::string ca = pki + "/ca.pem", cert = pki + "/client.pem", key = pki + "/client.key";
        struct rpc_tls tls = {};
        tls.ca_file = ca.c_str();
        tls.cert_file = cert.c_str();
        tls.key_file = key.c_str();
        ASSERT_TRUE(Start({"--tls-cert", pki + "/server.pem", "--tls-key", pki + "/server.key", "--tls-ca", ca},
                          &tls));
        Owned o;
        ASSERT_NE(nullptr, Sign(&o));

        /* without a client certificate, or in plaintext: no call gets through */
        struct rpc_tls anon = {};
        anon.ca_file = ca.c_str();
        for (const struct rpc_tls *t : {(const struct rpc_tls *)&anon, (const struct rpc_tls *)nullptr}) {
                struct rpc_channel *ch = nullptr;
                struct ak_error err = {};
                ASSERT_EQ(0, rpc_channel_new(signer_.Address().c_str(), t, &ch, &err)) << err.msg;
                RunRequest rr;
                ProtobufCMessage *resp = nullptr;
                struct rpc_call_options opts = {.timeout_ms = 5000};
                EXPECT_NE(RPC_OK, rpc_unary(ch, &ak__v1__signer__descriptor, "SignReceipt", &rr.req.base, &opts,
                                            &resp, &err));
                if (resp)
                        protobuf_c_message_free_unpacked(resp, nullptr);
                rpc_channel_free(ch);
        }
}

TEST_F(SignerTest, AdoptsAnAgentkernelKeyFile)
{
        /* a key as agentkernel (ring) writes it: PKCS#8 v2 with the public key */
        struct crypto_ed25519_key *k = nullptr;
        ASSERT_EQ(0, crypto_ed25519_key_generate(&k));
        uint8_t der[CRYPTO_PKCS8_ED25519_V2_LEN];
        crypto_ed25519_key_to_pkcs8(k, der);
        char id[17];
        ASSERT_EQ(0, receipt_key_id(crypto_ed25519_key_public(k), id));
        crypto_ed25519_key_free(k);
        ASSERT_EQ(0, mkdir((dir_ + "/keys").c_str(), 0700));
        ASSERT_TRUE(WriteFile(key_, std::string((char *)der, sizeof(der)), 0600));
        ASSERT_TRUE(Start());
        Owned o;
        Ak__V1__Receipt *m = Sign(&o);
        ASSERT_NE(nullptr, m);
        EXPECT_STREQ(id, m->signature->key_id);
        EXPECT_EQ(std::string((char *)der, sizeof(der)), ReadFile(key_)) << "the key file is left as it was";
}

}  // namespace
