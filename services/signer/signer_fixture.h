// Shared by the ak-signer component tests: requests as the executor sends
// them, calls that record every response (to search for key bytes), receipt
// checks with lib/receipt and with an independent verifier (Python's
// cryptography package), and a fixture that runs ak-signer on loopback.
#pragma once

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lib/encoding/base64.h"
#include "lib/encoding/hex.h"
#include "lib/receipt/proto/receipt_proto.h"
#include "lib/receipt/receipt.h"
#include "lib/rpc/rpc.h"
#include "protos/ak/v1/signer.pb-c.h"
#include "services/signer/signer_harness.h"

namespace signer_test {

constexpr char kSha[] = "4a3ed8147e37876adc8f76328e5abcc1b470e6acfc18efea0135f983604953a5";

/* Every response these tests receive, packed, to search for key bytes. */
inline std::string g_transcript;

inline void Record(const ProtobufCMessage *m)
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

constexpr struct rpc_call_options kOpts = {.timeout_ms = 20000};

inline int Call(struct rpc_channel *ch, const char *method, const ProtobufCMessage *req, ProtobufCMessage **resp,
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
inline struct receipt *CheckReceipt(const Ak__V1__Receipt *m)
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
constexpr char kPyVerify[] = R"PY(
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

inline bool HavePython()
{
        return system("/usr/bin/python3 -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' "
                      ">/dev/null 2>&1") == 0;
}

/* Runs the Python verifier over these receipts' JSON; "" when all verify. */
inline std::string PyVerify(const std::vector<std::string> &jsons, const std::string &want_key = "-")
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

inline std::vector<Ak__V1__PublicKey> ListKeys(struct rpc_channel *ch, Owned *keep)
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


} // namespace signer_test
