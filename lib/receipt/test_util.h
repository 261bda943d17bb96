/* Builders shared by lib/receipt's tests. */
#pragma once

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "lib/receipt/receipt.h"

namespace rt {

struct ReceiptDeleter {
        void operator()(struct receipt *r) const { receipt_free(r); }
};
using Receipt = std::unique_ptr<struct receipt, ReceiptDeleter>;

struct KeyDeleter {
        void operator()(struct crypto_ed25519_key *k) const { crypto_ed25519_key_free(k); }
};
using Key = std::unique_ptr<struct crypto_ed25519_key, KeyDeleter>;

inline char *Dup(const std::string &s)
{
        return strdup(s.c_str());
}

inline char **Strv(const std::vector<std::string> &v)
{
        char **out = (char **)calloc(v.size() + 1, sizeof(char *));
        for (size_t i = 0; i < v.size(); i++)
                out[i] = Dup(v[i]);
        return out;
}

/* The seed's sample_invocation(). */
inline void SampleRun(struct receipt *r)
{
        r->invocation.mode = RECEIPT_MODE_RUN;
        r->invocation.run.command = Strv({"python3", "-c", "print('ok')"});
        r->invocation.run.n_command = 3;
        r->invocation.run.image = Dup("python:3.12-alpine");
        r->invocation.run.backend = Dup("docker");
        r->invocation.run.profile = Dup("moderate");
}

/* The seed's unsigned_receipt(). */
inline Receipt UnsignedReceipt()
{
        struct receipt *r = nullptr;
        receipt_new(&r);
        r->version = RECEIPT_VERSION;
        r->receipt_id = Dup("test-receipt-1");
        r->recorded_at = Dup("2026-02-23T00:00:00Z");
        SampleRun(r);
        receipt_outcome_from_output(0, "ok\n", 3, nullptr, &r->outcome);
        receipt_seal(r, nullptr);
        return Receipt(r);
}

inline Key NewKey()
{
        struct crypto_ed25519_key *k = nullptr;
        crypto_ed25519_key_generate(&k);
        return Key(k);
}

inline Receipt SignedReceipt(const struct crypto_ed25519_key *k)
{
        Receipt r = UnsignedReceipt();
        receipt_seal(r.get(), k);
        return r;
}

inline std::string Payload(const struct receipt *r)
{
        char *p = nullptr;
        size_t n = 0;
        if (receipt_payload(r, &p, &n) < 0)
                return "<error>";
        std::string s(p, n);
        free(p);
        return s;
}

inline std::string Json(const struct receipt *r, bool pretty)
{
        char *p = nullptr;
        size_t n = 0;
        if (receipt_to_json(r, pretty, &p, &n) < 0)
                return "<error>";
        std::string s(p, n);
        free(p);
        return s;
}

/* Returns the error message, "" on success. */
inline std::string VerifyError(const struct receipt *r, bool allow_unsigned = false)
{
        char *e = nullptr;
        int rc = receipt_verify(r, allow_unsigned, &e);
        std::string s = rc == 0 ? "" : (e ? e : "<no message>");
        free(e);
        return s;
}

inline int ParseJson(const std::string &text, Receipt *out, std::string *err = nullptr)
{
        struct receipt *r = nullptr;
        char *e = nullptr;
        int rc = receipt_from_json(text.data(), text.size(), &r, &e);
        if (rc == 0)
                out->reset(r);
        if (err)
                *err = e ? e : "";
        free(e);
        return rc;
}

/* Runs /usr/bin/python3 with a script and arguments; returns stdout, sets ok. */
inline std::string Python(const std::string &script, const std::vector<std::string> &args, bool *ok)
{
        char path[] = "/tmp/ak_receipt_py_XXXXXX";
        int fd = mkstemp(path);
        *ok = false;
        if (fd < 0)
                return "";
        if (write(fd, script.data(), script.size()) != (ssize_t)script.size()) {
                close(fd);
                return "";
        }
        close(fd);
        std::string cmd = std::string("/usr/bin/python3 ") + path;
        for (auto &a : args)
                cmd += " '" + a + "'";
        FILE *p = popen(cmd.c_str(), "r");
        std::string out;
        char buf[4096];
        size_t n;
        while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0)
                out.append(buf, n);
        *ok = p && pclose(p) == 0;
        unlink(path);
        return out;
}

inline bool HavePythonCryptography()
{
        return access("/usr/bin/python3", X_OK) == 0 &&
               system("/usr/bin/python3 -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' 2>/dev/null") == 0;
}

} // namespace rt
