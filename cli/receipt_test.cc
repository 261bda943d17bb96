// `ak receipt`, run as a user would, on receipts made by lib/receipt, by
// hand-tampering, by an independent implementation (Python), and by the
// one-machine signing helper.
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/receipt_local.h"
#include "lib/receipt/receipt.h"

namespace {

struct Result {
        int status;
        std::string out, err;
};

std::string ReadFile(const std::string &path)
{
        std::ifstream f(path, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
}

void WriteFile(const std::string &path, const std::string &data)
{
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f << data;
}

class ReceiptCli : public ::testing::Test {
      protected:
        void SetUp() override
        {
                char tmpl[] = "/tmp/ak_receipt_cli_XXXXXX";
                ASSERT_NE(nullptr, mkdtemp(tmpl));
                dir_ = tmpl;
                ASSERT_EQ(0, crypto_ed25519_key_generate(&key_));
        }
        void TearDown() override
        {
                crypto_ed25519_key_free(key_);
                std::string cmd = "rm -rf '" + dir_ + "'";
                ASSERT_EQ(0, system(cmd.c_str()));
        }
        /* `ak ARGS` with AK_HOME in our directory. */
        Result Ak(const std::string &args)
        {
                std::string cmd = "AK_HOME='" + dir_ + "/home' cli/ak " + args + " 2>'" + dir_ + "/stderr'";
                Result r{-1, "", ""};
                FILE *p = popen(cmd.c_str(), "r");
                if (!p)
                        return r;
                char buf[4096];
                size_t n;
                while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                        r.out.append(buf, n);
                int st = pclose(p);
                r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
                r.err = ReadFile(dir_ + "/stderr");
                return r;
        }
        /* The seed's sample run, sealed (signed with key_ unless unsigned). */
        std::string Make(const std::string &name, bool sign = true)
        {
                struct receipt *r = nullptr;
                receipt_new(&r);
                r->invocation.mode = RECEIPT_MODE_RUN;
                r->invocation.run.command = (char **)calloc(4, sizeof(char *));
                r->invocation.run.command[0] = strdup("python3");
                r->invocation.run.command[1] = strdup("-c");
                r->invocation.run.command[2] = strdup("print('ok')");
                r->invocation.run.n_command = 3;
                r->invocation.run.image = strdup("python:3.12-alpine");
                r->invocation.run.backend = strdup("docker");
                r->invocation.run.profile = strdup("moderate");
                receipt_outcome_from_output(0, "ok\n", 3, nullptr, &r->outcome);
                EXPECT_EQ(0, receipt_finalize(r, sign ? key_ : nullptr));
                std::string path = dir_ + "/" + name;
                char *err = nullptr;
                EXPECT_EQ(0, receipt_write_file(path.c_str(), r, &err)) << err;
                id_ = r->receipt_id;
                if (r->signature)
                        key_id_ = r->signature->key_id;
                receipt_free(r);
                return path;
        }
        /* A copy of `path` with one text replacement. */
        std::string Tamper(const std::string &path, const std::string &from, const std::string &to)
        {
                std::string s = ReadFile(path);
                size_t at = s.find(from);
                EXPECT_NE(std::string::npos, at) << from;
                if (at != std::string::npos)
                        s.replace(at, from.size(), to);
                std::string out = path + ".tampered";
                WriteFile(out, s);
                return out;
        }
        /* What lib/receipt computes as the payload hash of the file's content. */
        std::string HashOf(const std::string &path)
        {
                struct receipt *r = nullptr;
                char *err = nullptr;
                EXPECT_EQ(0, receipt_load_file(path.c_str(), &r, &err)) << err;
                char *p = nullptr;
                size_t len = 0;
                char hex[CRYPTO_SHA256_HEX_LEN + 1] = "";
                if (r && receipt_payload(r, &p, &len) == 0)
                        receipt_payload_hash(p, len, hex);
                free(p);
                receipt_free(r);
                return hex;
        }
        std::string dir_, id_, key_id_;
        struct crypto_ed25519_key *key_ = nullptr;
};

TEST_F(ReceiptCli, VerifyGoodReceipt)
{
        std::string f = Make("good.json");
        Result r = Ak("receipt verify " + f);
        EXPECT_EQ(0, r.status) << r.err;
        EXPECT_EQ(f + ": valid receipt " + id_ + " (run, exit 0), signed by ed25519 key " + key_id_ + "\n", r.out);
        EXPECT_EQ("", r.err);
        /* pinned to its key, and to another */
        r = Ak("receipt verify --key-id " + key_id_ + " " + f);
        EXPECT_EQ(0, r.status) << r.err;
        r = Ak("receipt verify --key-id 0000000000000000 " + f);
        EXPECT_EQ(1, r.status);
        EXPECT_EQ("ak receipt verify: " + f + ": signed by key " + key_id_ + ", not one of the --key-id keys\n",
                  r.err);
}

TEST_F(ReceiptCli, VerifyTamperedReceiptsWithTheSeedsMessages)
{
        std::string f = Make("r.json");
        std::string hash = ReadFile(f).substr(ReadFile(f).find("\"payload_hash_sha256\": \"") + 24, 64);

        std::string t = Tamper(f, "\"print('ok')\"", "\"print('pwned')\"");
        Result r = Ak("receipt verify " + t);
        EXPECT_EQ(1, r.status);
        EXPECT_EQ("", r.out);
        EXPECT_EQ("ak receipt verify: " + t + ": Receipt hash mismatch: expected " + HashOf(t) + ", found " + hash +
                          "\n",
                  r.err);

        /* the hash updated too: the signature no longer fits */
        std::string t2 = Tamper(t, hash, HashOf(t));
        r = Ak("receipt verify " + t2);
        EXPECT_EQ(1, r.status);
        EXPECT_EQ("ak receipt verify: " + t2 + ": Invalid receipt signature\n", r.err);

        t = Tamper(f, "\"key_id\": \"" + key_id_, "\"key_id\": \"ffffffffffffffff");
        r = Ak("receipt verify " + t);
        EXPECT_EQ(1, r.status);
        EXPECT_EQ("ak receipt verify: " + t + ": Signature key ID mismatch: expected " + key_id_ +
                          ", found ffffffffffffffff\n",
                  r.err);

        t = Tamper(f, "\"algorithm\": \"ed25519\"", "\"algorithm\": \"rsa\"");
        r = Ak("receipt verify " + t);
        EXPECT_EQ(1, r.status);
        EXPECT_EQ("ak receipt verify: " + t + ": Unsupported signature algorithm 'rsa'; expected ed25519\n", r.err);

        t = Tamper(f, "\"version\": 1", "\"version\": 2");
        r = Ak("receipt verify " + t);
        EXPECT_EQ(1, r.status);
        EXPECT_EQ("ak receipt verify: " + t + ": Unsupported receipt version 2 (expected 1)\n", r.err);

        t = Tamper(f, "\"exit_code\": 0", "\"exit_code\": \"0\"");
        r = Ak("receipt verify " + t);
        EXPECT_EQ(1, r.status);
        EXPECT_EQ(0u, r.err.find("ak receipt verify: Invalid receipt JSON in " + t + ": ")) << r.err;

        r = Ak("receipt verify " + dir_ + "/missing.json");
        EXPECT_EQ(1, r.status);
        EXPECT_EQ("ak receipt verify: Failed to read receipt " + dir_ + "/missing.json: No such file or directory\n",
                  r.err);

        /* several files: each judged, exit 1 if any fails */
        r = Ak("receipt verify " + f + " " + t + " " + f);
        EXPECT_EQ(1, r.status);
        EXPECT_EQ(2, std::count(r.out.begin(), r.out.end(), '\n')) << r.out;
}

TEST_F(ReceiptCli, UnsignedReceiptsNeedTheFlag)
{
        std::string f = Make("u.json", false);
        Result r = Ak("receipt verify " + f);
        EXPECT_EQ(1, r.status);
        EXPECT_EQ("ak receipt verify: " + f + ": Receipt is unsigned. Pass --allow-unsigned to verify legacy receipts.\n",
                  r.err);
        r = Ak("receipt verify --allow-unsigned " + f);
        EXPECT_EQ(0, r.status) << r.err;
        EXPECT_EQ(f + ": valid receipt " + id_ + " (run, exit 0), unsigned (allowed by --allow-unsigned)\n", r.out);
        r = Ak("receipt replay --print " + f);
        EXPECT_EQ(1, r.status);
        r = Ak("receipt replay --print --allow-unsigned " + f);
        EXPECT_EQ(0, r.status) << r.err;
}

TEST_F(ReceiptCli, ShowPrintsASummaryOrTheJson)
{
        std::string f = Make("s.json");
        Result r = Ak("receipt show " + f);
        EXPECT_EQ(0, r.status) << r.err;
        for (const std::string &line :
             {"Receipt      " + id_ + " (version 1)\n", std::string("Mode         run\n"),
              std::string("Command      python3 -c 'print('\\''ok'\\'')'\n"),
              std::string("Image        python:3.12-alpine\n"), std::string("Options      (none)\n"),
              std::string("Exit code    0 (success)\n"),
              std::string("Output       3 bytes, sha256 dc51b8c96c2d745df3bd5590d990230a482fd247123599548e0632fdbf97fc22\n"),
              "Signature    ed25519, key " + key_id_ + ", public key ", std::string("Verified     yes\n")})
                EXPECT_NE(std::string::npos, r.out.find(line)) << line << "\nin:\n" << r.out;
        r = Ak("receipt show --json " + f);
        EXPECT_EQ(0, r.status);
        EXPECT_EQ(ReadFile(f) + "\n", r.out) << "the file is in agentkernel's layout already";

        std::string t = Tamper(f, "\"exit_code\": 0", "\"exit_code\": 1");
        r = Ak("receipt show " + t);
        EXPECT_EQ(0, r.status);
        EXPECT_NE(std::string::npos, r.out.find("Verified     INVALID: Receipt hash mismatch: expected ")) << r.out;
}

TEST_F(ReceiptCli, TenantShownAsUnsigned)
{
        std::string f = Make("t.json");
        Result r = Ak("receipt show " + f);
        EXPECT_EQ(std::string::npos, r.out.find("Tenant")) << "no tenant, no line:\n" << r.out;

        /* The executor's receipts carry it beside the signature: verify and
         * show name it and say it is unsigned, and the signature still holds. */
        std::string t = Tamper(f, "\n  }\n}", "\n  },\n  \"tenant\": \"team-a\"\n}");
        r = Ak("receipt verify " + t);
        EXPECT_EQ(0, r.status) << r.err;
        EXPECT_EQ(t + ": valid receipt " + id_ + " (run, exit 0), signed by ed25519 key " + key_id_ +
                          "; tenant team-a (unsigned)\n",
                  r.out);
        r = Ak("receipt show " + t);
        EXPECT_EQ(0, r.status) << r.err;
        EXPECT_NE(std::string::npos, r.out.find("Tenant       team-a (unsigned: not covered by the signature)\n"))
                << r.out;
        EXPECT_NE(std::string::npos, r.out.find("Verified     yes\n")) << r.out;
        r = Ak("receipt show --json " + t);
        EXPECT_EQ(ReadFile(t) + "\n", r.out) << "--json keeps the key where the executor put it";

        /* Anyone can edit it: the terminal gets no escape sequence from it. */
        std::string e = Tamper(f, "\n  }\n}", "\n  },\n  \"tenant\": \"x\\u001b[2Jy\"\n}");
        r = Ak("receipt show " + e);
        EXPECT_EQ(0, r.status) << r.err;
        EXPECT_EQ(std::string::npos, r.out.find('\x1b')) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("Tenant       $'x\\x1b[2Jy' (unsigned")) << r.out;
        r = Ak("receipt verify " + e);
        EXPECT_EQ(std::string::npos, r.out.find('\x1b')) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("; tenant $'x\\x1b[2Jy' (unsigned)\n")) << r.out;
}

TEST_F(ReceiptCli, ReplayPrintsTheAgentkernelCommandQuoted)
{
        std::string f = Make("p.json");
        Result r = Ak("receipt replay --print " + f);
        EXPECT_EQ(0, r.status) << r.err;
        EXPECT_EQ("agentkernel run --image python:3.12-alpine -B docker --profile moderate -- python3 -c "
                  "'print('\\''ok'\\'')'\n",
                  r.out);

        /* the seed's exec example, word for word */
        struct receipt *rc = nullptr;
        receipt_new(&rc);
        rc->invocation.mode = RECEIPT_MODE_EXEC;
        rc->invocation.exec.name = strdup("dev");
        const char *cmd[] = {"pytest", "-q"}, *env[] = {"FOO=bar", "DEBUG=1"};
        rc->invocation.exec.command = (char **)calloc(2, sizeof(char *));
        rc->invocation.exec.env = (char **)calloc(2, sizeof(char *));
        for (int i = 0; i < 2; i++) {
                rc->invocation.exec.command[i] = strdup(cmd[i]);
                rc->invocation.exec.env[i] = strdup(env[i]);
        }
        rc->invocation.exec.n_command = rc->invocation.exec.n_env = 2;
        rc->invocation.exec.workdir = strdup("/workspace");
        rc->invocation.exec.sudo = true;
        receipt_outcome_from_output(0, "", 0, nullptr, &rc->outcome);
        ASSERT_EQ(0, receipt_finalize(rc, key_));
        std::string e = dir_ + "/e.json";
        ASSERT_EQ(0, receipt_write_file(e.c_str(), rc, nullptr));
        r = Ak("receipt replay --print " + e);
        EXPECT_EQ("agentkernel exec dev --env FOO=bar --env DEBUG=1 --workdir /workspace --sudo -- pytest -q\n", r.out);

        /* hostile words come back as the same words from bash */
        const std::vector<std::string> words = {"", "a b", "it's", "$(rm -rf /)", "`x`", "\"q\"", "back\\slash",
                                                "tab\there", "nl\nx", "esc\x1b[31m", "del\x7f", "~", "*", "-",
                                                "caf\xc3\xa9", "!", "#c", "a=b"};
        receipt_strv_free(rc->invocation.exec.command, 2);
        rc->invocation.exec.command = (char **)calloc(words.size(), sizeof(char *));
        for (size_t i = 0; i < words.size(); i++)
                rc->invocation.exec.command[i] = strdup(words[i].c_str());
        rc->invocation.exec.n_command = words.size();
        ASSERT_EQ(0, receipt_finalize(rc, key_));
        ASSERT_EQ(0, receipt_write_file(e.c_str(), rc, nullptr));
        receipt_free(rc);
        r = Ak("receipt replay --print " + e);
        ASSERT_EQ(0, r.status) << r.err;
        EXPECT_EQ(std::string::npos, r.out.find('\x1b')) << "no raw control characters on the terminal";
        size_t dd = r.out.find(" -- ");
        ASSERT_NE(std::string::npos, dd);
        std::string script = dir_ + "/words.sh";
        WriteFile(script, "printf '%s\\0' " + r.out.substr(dd + 4));
        std::string got;
        FILE *p = popen(("/bin/bash " + script).c_str(), "r");
        ASSERT_NE(nullptr, p);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
                got.append(buf, n);
        pclose(p);
        std::string want;
        for (auto &w : words)
                want += w + std::string(1, '\0');
        EXPECT_EQ(want, got);

        std::string t = Tamper(f, "\"moderate\"", "\"permissive\"");
        r = Ak("receipt replay --print " + t);
        EXPECT_EQ(1, r.status);
        EXPECT_EQ("", r.out);
        EXPECT_NE(std::string::npos, r.err.find(": Receipt hash mismatch: ")) << r.err;
}

TEST_F(ReceiptCli, LocalKeyAndSigningHelper)
{
        Result r = Ak("receipt key --json");
        ASSERT_EQ(0, r.status) << r.err;
        std::string key_file = dir_ + "/home/receipts/ed25519_signing_key.pkcs8";
        struct stat st;
        ASSERT_EQ(0, stat(key_file.c_str(), &st));
        EXPECT_EQ(0600u, st.st_mode & 07777);
        ASSERT_EQ(0, stat((dir_ + "/home/receipts").c_str(), &st));
        EXPECT_EQ(0700u, st.st_mode & 07777);
        size_t at = r.out.find("\"key_id\":\"");
        ASSERT_NE(std::string::npos, at) << r.out;
        std::string id = r.out.substr(at + 10, 16);
        EXPECT_EQ(0u, r.out.find("{\"path\":\"" + key_file + "\",\"algorithm\":\"ed25519\",\"key_id\":\"" + id)) << r.out;
        r = Ak("receipt key");
        EXPECT_NE(std::string::npos, r.out.find("Key ID       " + id + "\n")) << "same key the second time";

        /* the helper `ak run` uses in one-machine mode signs with that key */
        std::string home = dir_ + "/home";
        setenv("AK_HOME", home.c_str(), 1);
        char *path = nullptr;
        ASSERT_EQ(0, local_receipt_key_path(&path));
        EXPECT_EQ(key_file, path);
        free(path);
        struct receipt *rc = nullptr;
        receipt_new(&rc);
        rc->invocation.mode = RECEIPT_MODE_EXEC;
        rc->invocation.exec.name = strdup("dev");
        receipt_outcome_from_output(0, "", 0, nullptr, &rc->outcome);
        char *err = nullptr;
        ASSERT_EQ(0, local_receipt_sign(rc, &err)) << err;
        unsetenv("AK_HOME");
        std::string f = dir_ + "/local.json";
        ASSERT_EQ(0, receipt_write_file(f.c_str(), rc, nullptr));
        receipt_free(rc);
        r = Ak("receipt verify --key-id " + id + " " + f);
        EXPECT_EQ(0, r.status) << r.err;
}

const char kPyMake[] = R"PY(
import base64, hashlib, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization as s

k = Ed25519PrivateKey.generate()
pub = k.public_key().public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
r = {"version": 1, "receipt_id": "0190f5e2-7a3b-7c4d-8e5f-0123456789ab",
     "recorded_at": "2026-02-23T10:11:12.5+00:00",
     "invocation": {"mode": "run", "input": {"command": ["sh", "-c", "echo \u00e9 \U0001F600 \x1b/"],
                                            "image": None, "backend": "qemu", "profile": "strict",
                                            "no_network": True, "fast": False, "keep": True}},
     "outcome": {"exit_code": 7, "success": False, "output_sha256": hashlib.sha256(b"x").hexdigest(),
                 "output_bytes": 2**53 + 1, "error": None}}
p = json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode()
r["payload_hash_sha256"] = hashlib.sha256(p).hexdigest()
r["signature"] = {"algorithm": "ed25519", "key_id": hashlib.sha256(pub).hexdigest()[:16],
                  "public_key": base64.b64encode(pub).decode(),
                  "signature": base64.b64encode(k.sign(p)).decode()}
json.dump(r, open(sys.argv[1], "w"), indent=None, ensure_ascii=True)
print(r["signature"]["key_id"])
)PY";

TEST_F(ReceiptCli, VerifiesReceiptsAnIndependentImplementationMade)
{
        if (system("/usr/bin/python3 -c 'import cryptography' >/dev/null 2>&1") != 0)
                GTEST_SKIP() << "needs python3-cryptography (tools/deps.sh)";
        std::string script = dir_ + "/make.py", f = dir_ + "/py.json";
        WriteFile(script, kPyMake);
        FILE *p = popen(("/usr/bin/python3 " + script + " " + f).c_str(), "r");
        ASSERT_NE(nullptr, p);
        char id[64] = "";
        ASSERT_NE(nullptr, fgets(id, sizeof(id), p));
        pclose(p);
        id[16] = '\0';
        Result r = Ak("receipt verify " + f);
        EXPECT_EQ(0, r.status) << r.err;
        EXPECT_EQ(f + ": valid receipt 0190f5e2-7a3b-7c4d-8e5f-0123456789ab (run, exit 7), signed by ed25519 key " + id +
                          "\n",
                  r.out);
        r = Ak("receipt replay --print " + f);
        EXPECT_EQ("agentkernel run -B qemu --keep --no-network --profile strict -- sh -c $'echo \xc3\xa9 "
                  "\xf0\x9f\x98\x80 \\x1b/'\n",
                  r.out);
}

TEST_F(ReceiptCli, PruneRemovesOnlyOldReceipts)
{
        std::string rd = dir_ + "/home/receipts";
        ASSERT_EQ(0, system(("mkdir -p '" + rd + "'").c_str()));
        Result r = Ak("receipt prune --older-than 30d");
        ASSERT_EQ(0, r.status) << r.err;
        EXPECT_EQ("removed 0 receipts older than 30d from " + rd + "\n", r.out);
        /* Two old receipts, one new, and old files that are not receipts. */
        auto age = [](const std::string &path, long days) {
                struct timespec t[2];
                clock_gettime(CLOCK_REALTIME, &t[0]);
                t[0].tv_sec -= days * 86400;
                t[1] = t[0];
                ASSERT_EQ(0, utimensat(AT_FDCWD, path.c_str(), t, AT_SYMLINK_NOFOLLOW)) << path;
        };
        std::string old1 = Make("home/receipts/old1.json"), old2 = Make("home/receipts/old2.json");
        std::string fresh = Make("home/receipts/fresh.json");
        std::string other = rd + "/notes.json", key = rd + "/ed25519_signing_key.pkcs8";
        WriteFile(other, "{\"not\": \"a receipt\"}");
        WriteFile(key, "key");
        ASSERT_EQ(0, symlink(old1.c_str(), (rd + "/link.json").c_str()));
        for (const std::string &f : {old1, old2, other, key})
                age(f, 31);
        age(rd + "/link.json", 31);
        age(fresh, 29);

        r = Ak("receipt prune --older-than 30d --dry-run");
        ASSERT_EQ(0, r.status) << r.err;
        EXPECT_NE(std::string::npos, r.out.find("would remove " + old1 + "\n")) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("would remove " + old2 + "\n")) << r.out;
        EXPECT_NE(std::string::npos, r.out.find("would remove 2 receipts older than 30d")) << r.out;
        EXPECT_EQ(0, access(old1.c_str(), F_OK));

        r = Ak("receipt prune --older-than=30d");
        ASSERT_EQ(0, r.status) << r.err;
        EXPECT_EQ("removed 2 receipts older than 30d from " + rd + "\n", r.out);
        EXPECT_NE(0, access(old1.c_str(), F_OK));
        EXPECT_NE(0, access(old2.c_str(), F_OK));
        for (const std::string &f : {fresh, other, key})
                EXPECT_EQ(0, access(f.c_str(), F_OK)) << f << " must stay";
        struct stat st;
        EXPECT_EQ(0, lstat((rd + "/link.json").c_str(), &st)) << "a link is not followed or removed";

        r = Ak("receipt prune --older-than 28d");
        EXPECT_EQ("removed 1 receipt older than 28d from " + rd + "\n", r.out);
        for (const char *bad : {"receipt prune", "receipt prune --older-than", "receipt prune --older-than 3w",
                                "receipt prune --older-than -1d", "receipt prune --older-than 1d x"}) {
                r = Ak(bad);
                EXPECT_EQ(2, r.status) << bad;
                EXPECT_NE(std::string::npos, r.err.find("prune")) << bad << ": " << r.err;
        }
}

TEST_F(ReceiptCli, BadUsageExitsTwo)
{
        for (const char *args : {"receipt", "receipt frob", "receipt verify", "receipt verify --bogus x",
                                 "receipt show", "receipt show a b", "receipt replay", "receipt key extra",
                                 "receipt verify --key-id"}) {
                Result r = Ak(args);
                EXPECT_EQ(2, r.status) << args;
                EXPECT_NE(std::string::npos, r.err.find("Usage: ak receipt verify")) << args << ": " << r.err;
        }
        Result r = Ak("receipt --help");
        EXPECT_EQ(0, r.status);
        EXPECT_EQ(0u, r.out.find("Usage: ak receipt verify FILE..."));
        EXPECT_NE(std::string::npos, r.out.find("Examples:"));
}

}  // namespace
