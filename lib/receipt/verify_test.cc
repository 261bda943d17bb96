/* Verification: every field tampered, agentkernel's messages word for word,
 * and a cross-check with an independent implementation (Python). */
#include <errno.h>
#include <gtest/gtest.h>

#include <functional>

#include "lib/encoding/base64.h"
#include "lib/receipt/test_util.h"

using namespace rt;

namespace {

void Set(char **field, const char *v)
{
        free(*field);
        *field = v ? Dup(v) : nullptr;
}

std::string HashMismatchPrefix()
{
        return "Receipt hash mismatch: expected ";
}

} // namespace

TEST(ReceiptVerify, SignedVerifies)
{
        Key k = NewKey();
        Receipt r = SignedReceipt(k.get());
        EXPECT_EQ(VerifyError(r.get(), false), "");
        EXPECT_EQ(VerifyError(r.get(), true), "");
}

TEST(ReceiptVerify, EveryPayloadFieldTampered)
{
        Key k = NewKey();
        std::vector<std::pair<const char *, std::function<void(struct receipt *)>>> edits = {
                {"receipt_id", [](struct receipt *r) { Set(&r->receipt_id, "other"); }},
                {"recorded_at", [](struct receipt *r) { Set(&r->recorded_at, "2026-02-23T00:00:01Z"); }},
                {"mode", [](struct receipt *r) {
                         r->invocation.mode = RECEIPT_MODE_EXEC;
                         r->invocation.exec.name = Dup("x");
                 }},
                {"command", [](struct receipt *r) { Set(&r->invocation.run.command[0], "python"); }},
                {"command.len", [](struct receipt *r) { Set(&r->invocation.run.command[--r->invocation.run.n_command], nullptr); }},
                {"image", [](struct receipt *r) { Set(&r->invocation.run.image, nullptr); }},
                {"backend", [](struct receipt *r) { Set(&r->invocation.run.backend, "firecracker"); }},
                {"profile", [](struct receipt *r) { Set(&r->invocation.run.profile, "permissive"); }},
                {"no_network", [](struct receipt *r) { r->invocation.run.no_network = true; }},
                {"fast", [](struct receipt *r) { r->invocation.run.fast = true; }},
                {"keep", [](struct receipt *r) { r->invocation.run.keep = true; }},
                {"exit_code", [](struct receipt *r) { r->outcome.exit_code = 1; }},
                {"success", [](struct receipt *r) { r->outcome.success = false; }},
                {"output_sha256", [](struct receipt *r) { r->outcome.output_sha256[0] = '0'; }},
                {"output_bytes", [](struct receipt *r) { r->outcome.output_bytes = 4; }},
                {"error", [](struct receipt *r) { Set(&r->outcome.error, ""); }},
        };
        for (auto &e : edits) {
                Receipt r = SignedReceipt(k.get());
                e.second(r.get());
                std::string err = VerifyError(r.get());
                EXPECT_EQ(err.rfind(HashMismatchPrefix(), 0), 0u) << e.first << ": " << err;
                EXPECT_NE(err.find(std::string(", found ") + r->payload_hash_sha256), std::string::npos);

                /* and if the attacker also fixes the hash, the signature catches it */
                receipt_signature *sig = r->signature;
                r->signature = nullptr;
                receipt_seal(r.get(), nullptr);
                r->signature = sig;
                EXPECT_EQ(VerifyError(r.get()), "Invalid receipt signature") << e.first;
        }
}

TEST(ReceiptVerify, ExecFieldsTampered)
{
        Key k = NewKey();
        Receipt r = SignedReceipt(k.get());
        receipt_invocation_clear(&r->invocation);
        r->invocation.mode = RECEIPT_MODE_EXEC;
        r->invocation.exec.name = Dup("dev");
        r->invocation.exec.command = Strv({"ls"});
        r->invocation.exec.n_command = 1;
        r->invocation.exec.env = Strv({"A=1"});
        r->invocation.exec.n_env = 1;
        r->invocation.exec.workdir = Dup("/w");
        receipt_seal(r.get(), k.get());
        ASSERT_EQ(VerifyError(r.get()), "");
        std::vector<std::function<void(struct receipt *)>> edits = {
                [](struct receipt *x) { Set(&x->invocation.exec.name, "prod"); },
                [](struct receipt *x) { Set(&x->invocation.exec.command[0], "rm"); },
                [](struct receipt *x) { Set(&x->invocation.exec.env[0], "A=2"); },
                [](struct receipt *x) { Set(&x->invocation.exec.env[--x->invocation.exec.n_env], nullptr); },
                [](struct receipt *x) { Set(&x->invocation.exec.workdir, nullptr); },
                [](struct receipt *x) { x->invocation.exec.sudo = true; },
        };
        std::string json = Json(r.get(), false);
        for (auto &e : edits) {
                Receipt c(nullptr);
                ASSERT_EQ(ParseJson(json, &c), 0);
                e(c.get());
                EXPECT_EQ(VerifyError(c.get()).rfind(HashMismatchPrefix(), 0), 0u);
        }
}

TEST(ReceiptVerify, VersionChecked)
{
        Key k = NewKey();
        Receipt r = SignedReceipt(k.get());
        r->version = 2;
        EXPECT_EQ(VerifyError(r.get(), true), "Unsupported receipt version 2 (expected 1)");
        r->version = 0;
        EXPECT_EQ(VerifyError(r.get(), true), "Unsupported receipt version 0 (expected 1)");
}

TEST(ReceiptVerify, HashTampered)
{
        Key k = NewKey();
        Receipt r = SignedReceipt(k.get());
        std::string good = r->payload_hash_sha256;
        Set(&r->payload_hash_sha256, "00");
        EXPECT_EQ(VerifyError(r.get()), "Receipt hash mismatch: expected " + good + ", found 00");
        std::string upper = good;
        for (char &c : upper)
                c = (char)toupper(c);
        Set(&r->payload_hash_sha256, upper.c_str());
        EXPECT_EQ(VerifyError(r.get()), "Receipt hash mismatch: expected " + good + ", found " + upper);
}

TEST(ReceiptVerify, SignatureFieldsTampered)
{
        Key k = NewKey(), other = NewKey();
        Receipt r = SignedReceipt(k.get());
        std::string kid = r->signature->key_id;

        /* algorithm: case-insensitive ed25519 only */
        Set(&r->signature->algorithm, "ED25519");
        EXPECT_EQ(VerifyError(r.get()), "");
        Set(&r->signature->algorithm, "Ed25519");
        EXPECT_EQ(VerifyError(r.get()), "");
        Set(&r->signature->algorithm, "rsa");
        EXPECT_EQ(VerifyError(r.get()), "Unsupported signature algorithm 'rsa'; expected ed25519");
        Set(&r->signature->algorithm, "ed25519 ");
        EXPECT_EQ(VerifyError(r.get()), "Unsupported signature algorithm 'ed25519 '; expected ed25519");
        Set(&r->signature->algorithm, "ed25519");

        /* key_id */
        Set(&r->signature->key_id, "0000000000000000");
        EXPECT_EQ(VerifyError(r.get()), "Signature key ID mismatch: expected " + kid + ", found 0000000000000000");
        Set(&r->signature->key_id, kid.c_str());

        /* public_key: bad base64, then another valid key (key id no longer fits),
         * then another key with its key id (signature no longer fits) */
        std::string pk = r->signature->public_key;
        Set(&r->signature->public_key, "not base64!");
        EXPECT_EQ(VerifyError(r.get()), "Invalid base64 public key in receipt signature");
        Set(&r->signature->public_key, (pk.substr(0, 43) + "").c_str()); /* unpadded */
        EXPECT_EQ(VerifyError(r.get()), "Invalid base64 public key in receipt signature");
        char *b64 = nullptr;
        base64_encode_alloc(crypto_ed25519_key_public(other.get()), 32, &b64);
        Set(&r->signature->public_key, b64);
        free(b64);
        char okid[17];
        receipt_key_id(crypto_ed25519_key_public(other.get()), okid);
        EXPECT_EQ(VerifyError(r.get()), "Signature key ID mismatch: expected " + std::string(okid) + ", found " + kid);
        Set(&r->signature->key_id, okid);
        EXPECT_EQ(VerifyError(r.get()), "Invalid receipt signature");
        Set(&r->signature->public_key, pk.c_str());
        Set(&r->signature->key_id, kid.c_str());
        ASSERT_EQ(VerifyError(r.get()), "");

        /* a public key of the wrong length with a matching key id */
        Set(&r->signature->public_key, "AAAA");
        const uint8_t zeros[3] = {0, 0, 0};
        char hex[65];
        crypto_sha256_hex(zeros, 3, hex);
        Set(&r->signature->key_id, std::string(hex, 16).c_str());
        EXPECT_EQ(VerifyError(r.get()), "Invalid receipt signature");
        Set(&r->signature->public_key, pk.c_str());
        Set(&r->signature->key_id, kid.c_str());

        /* signature */
        std::string sig = r->signature->signature;
        Set(&r->signature->signature, "%%%%");
        EXPECT_EQ(VerifyError(r.get()), "Invalid base64 signature bytes in receipt signature");
        Set(&r->signature->signature, "AAAA");
        EXPECT_EQ(VerifyError(r.get()), "Invalid receipt signature");
        std::string flipped = sig;
        flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
        Set(&r->signature->signature, flipped.c_str());
        EXPECT_EQ(VerifyError(r.get()), "Invalid receipt signature");
        /* signed by another key, presented with that key: valid signature of a
         * different signer is still valid (key pinning is the caller's job) */
        Receipt o = SignedReceipt(other.get());
        EXPECT_EQ(VerifyError(o.get()), "");
        Set(&r->signature->signature, o->signature->signature);
        EXPECT_EQ(VerifyError(r.get()), "Invalid receipt signature");
}

TEST(ReceiptVerify, UnsignedOnlyWithFlag)
{
        Key k = NewKey();
        Receipt r = SignedReceipt(k.get());
        receipt_signature_free(r->signature);
        r->signature = nullptr;
        EXPECT_EQ(VerifyError(r.get(), false), "Receipt is unsigned. Pass --allow-unsigned to verify legacy receipts.");
        EXPECT_EQ(VerifyError(r.get(), true), "");
}

TEST(ReceiptVerify, NullErrorPointerAllowed)
{
        Receipt r = UnsignedReceipt();
        EXPECT_EQ(receipt_verify(r.get(), false, nullptr), -EBADMSG);
        EXPECT_EQ(receipt_verify(r.get(), true, nullptr), 0);
}

namespace {

const char kPyVerify[] = R"PY(
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives import serialization as s

def payload(r):
    return json.dumps({k: r[k] for k in ("version", "receipt_id", "recorded_at", "invocation", "outcome")},
                      separators=(",", ":"), ensure_ascii=False).encode()

if sys.argv[1] == "verify":
    r = json.load(open(sys.argv[2], encoding="utf-8"))
    p = payload(r)
    assert hashlib.sha256(p).hexdigest() == r["payload_hash_sha256"], "hash"
    sig = r["signature"]
    pub = base64.b64decode(sig["public_key"], validate=True)
    assert hashlib.sha256(pub).hexdigest()[:16] == sig["key_id"], "key id"
    Ed25519PublicKey.from_public_bytes(pub).verify(base64.b64decode(sig["signature"], validate=True), p)
    print("verified", r.get("tenant"))
else:
    k = Ed25519PrivateKey.generate()
    pub = k.public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
    r = {"version": 1, "receipt_id": "0190f5e2-7a3b-7c4d-8e5f-0123456789ab",
         "recorded_at": "2026-02-23T10:11:12.5+00:00",
         "invocation": {"mode": "exec", "input": {"name": "d\u00e9v", "command": ["echo", "\U0001F600", "\x01\x7f\"\\/"],
                                                  "env": ["A=1"], "workdir": None, "sudo": False}},
         "outcome": {"exit_code": -1, "success": False, "output_sha256": "ab", "output_bytes": 2**64 - 1,
                     "error": "boom\n"}}
    p = payload(r)
    r["payload_hash_sha256"] = hashlib.sha256(p).hexdigest()
    r["signature"] = {"algorithm": "Ed25519", "key_id": hashlib.sha256(pub).hexdigest()[:16],
                      "public_key": base64.b64encode(pub).decode(),
                      "signature": base64.b64encode(k.sign(p)).decode()}
    # another layout: 4-space indent, keys reordered, every non-ASCII as \u escapes
    r = dict(reversed(list(r.items())))
    open(sys.argv[2], "w", encoding="utf-8").write(json.dumps(r, indent=4, ensure_ascii=True))
    print("written")
)PY";

} // namespace

TEST(ReceiptVerify, CrossCheckWithPython)
{
        if (!HavePythonCryptography())
                GTEST_SKIP() << "cross-check needs python3-cryptography (apt install python3-cryptography)";
        char dir[] = "/tmp/ak_receipt_py_XXXXXX";
        ASSERT_NE(mkdtemp(dir), nullptr);
        std::string ours = std::string(dir) + "/ours.json", theirs = std::string(dir) + "/theirs.json";

        /* ours, signed by us, checked by Python; the tenant beside the
         * signature changes nothing a verifier that knows only the five
         * payload fields (as agentkernel) computes */
        Key k = NewKey();
        Receipt r = UnsignedReceipt();
        Set(&r->tenant, "team-a");
        Set(&r->outcome.error, "\xf0\x9f\x98\x80 \x1b[31mred\x1b[0m\t/");
        r->outcome.output_bytes = UINT64_MAX;
        r->outcome.exit_code = -2147483647 - 1;
        ASSERT_EQ(receipt_finalize(r.get(), k.get()), 0);
        char *err = nullptr;
        ASSERT_EQ(receipt_write_file(ours.c_str(), r.get(), &err), 0);
        bool ok;
        std::string out = Python(kPyVerify, {"verify", ours}, &ok);
        EXPECT_TRUE(ok);
        EXPECT_EQ(out, "verified team-a\n");

        /* theirs, signed by Python in another layout, checked by us */
        out = Python(kPyVerify, {"make", theirs}, &ok);
        ASSERT_TRUE(ok) << out;
        struct receipt *t = nullptr;
        ASSERT_EQ(receipt_verify_file(theirs.c_str(), false, &t, &err), 0) << err;
        Receipt tr(t);
        EXPECT_STREQ(tr->invocation.exec.command[1], "\xf0\x9f\x98\x80");
        EXPECT_EQ(tr->outcome.output_bytes, UINT64_MAX);
        EXPECT_STREQ(tr->signature->algorithm, "Ed25519");

        unlink(ours.c_str());
        unlink(theirs.c_str());
        rmdir(dir);
}
