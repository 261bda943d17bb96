// ak-signer's keys end to end: rotation (RPC with the admin token, --rotate),
// key files it refuses, adopting agentkernel's key file, mutual TLS.
#include <string.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "services/signer/signer_fixture.h"

namespace {

using namespace signer_test;

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
        RunResult r = RunSigner({"--key", key_, "--listen", "127.0.0.1:0", "--insecure"});
        output_ += r.out + r.err;
        EXPECT_EQ(1, r.exit_code);
        EXPECT_EQ("", r.out) << "never listened";
        // One error line of the log: "TIME error ak-signer: signing key ...".
        std::string want = " error ak-signer: signing key " + key_ +
                           " is accessible by group or others (mode 0644); run: chmod 600 " + key_ + "\n";
        EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
        EXPECT_TRUE(r.err.size() > want.size() && r.err.compare(r.err.size() - want.size(), want.size(), want) == 0)
                << r.err;
        ASSERT_EQ(0, chmod(key_.c_str(), 0600));
        ASSERT_EQ(0, chmod((key_ + ".d").c_str(), 0755));
        r = RunSigner({"--key", key_, "--listen", "127.0.0.1:0", "--insecure"});
        EXPECT_EQ(1, r.exit_code);
        EXPECT_NE(std::string::npos, r.err.find("run: chmod 700 " + key_ + ".d")) << r.err;
        ASSERT_EQ(0, chmod((key_ + ".d").c_str(), 0700));

        std::string token = dir_ + "/admin.token";
        ASSERT_TRUE(WriteFile(token, "t", 0644));
        r = RunSigner({"--key", key_, "--listen", "127.0.0.1:0", "--insecure", "--admin-token-file", token});
        EXPECT_EQ(1, r.exit_code);
        EXPECT_NE(std::string::npos, r.err.find("run: chmod 600 " + token)) << r.err;
        r = RunSigner({"--key", key_});
        EXPECT_EQ(2, r.exit_code);
        EXPECT_NE(std::string::npos, r.err.find("nothing to do")) << r.err;
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
