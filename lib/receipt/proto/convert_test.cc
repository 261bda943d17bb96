// receipt_proto: messages <-> struct receipt, and the checks on requests.
#include "lib/receipt/proto/receipt_proto.h"

#include <string.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lib/receipt/proto/akwire/v1/signer.pb-c.h"

namespace {

struct ReceiptPtr {
        struct receipt *r = nullptr;
        ~ReceiptPtr() { receipt_free(r); }
};

char *Dup(const std::string &s)
{
        return strdup(s.c_str());
}

char **Strv(const std::vector<std::string> &v)
{
        char **out = (char **)calloc(v.size() + 1, sizeof(char *));
        for (size_t i = 0; i < v.size(); i++)
                out[i] = Dup(v[i]);
        return out;
}

const char kSha[] = "4a3ed8147e37876adc8f76328e5abcc1b470e6acfc18efea0135f983604953a5";

/* The seed's sample run receipt, unsealed. */
struct receipt *SampleRun()
{
        struct receipt *r = nullptr;
        receipt_new(&r);
        r->invocation.mode = RECEIPT_MODE_RUN;
        r->invocation.run.command = Strv({"python3", "-c", "print('ok')"});
        r->invocation.run.n_command = 3;
        r->invocation.run.image = Dup("python:3.12-alpine");
        r->invocation.run.backend = Dup("docker");
        r->invocation.run.profile = Dup("moderate");
        r->invocation.run.no_network = true;
        receipt_outcome_from_output(0, "ok\n", 3, nullptr, &r->outcome);
        return r;
}

struct receipt *SampleExec()
{
        struct receipt *r = nullptr;
        receipt_new(&r);
        r->invocation.mode = RECEIPT_MODE_EXEC;
        r->invocation.exec.name = Dup("d\xc3\xa9v");
        r->invocation.exec.command = Strv({"pytest", "-q", "\xf0\x9f\x98\x80 \x1b[31m"});
        r->invocation.exec.n_command = 3;
        r->invocation.exec.env = Strv({"FOO=bar", "EMPTY="});
        r->invocation.exec.n_env = 2;
        r->invocation.exec.workdir = Dup("");
        r->invocation.exec.sudo = true;
        r->outcome.exit_code = -2147483647 - 1;
        r->outcome.output_sha256 = Dup(kSha);
        r->outcome.output_bytes = UINT64_MAX;
        r->outcome.error = Dup("boom\n");
        return r;
}

/* Payload of r with a fixed id and time, to compare invocations and outcomes. */
std::string Payload(struct receipt *r)
{
        free(r->receipt_id);
        free(r->recorded_at);
        r->receipt_id = Dup("id");
        r->recorded_at = Dup("t");
        r->version = 1;
        char *p = nullptr;
        size_t n = 0;
        EXPECT_EQ(0, receipt_payload(r, &p, &n));
        std::string s(p ? p : "", n);
        free(p);
        return s;
}

/* Sends r's fields through a request message and back. */
std::string ThroughRequest(struct receipt *r)
{
        Ak__V1__SignReceiptRequest *m = nullptr;
        EXPECT_EQ(0, receipt_proto_request_from_receipt(r, &m));
        ReceiptPtr back;
        struct ak_error err = {};
        EXPECT_EQ(0, receipt_proto_request_to_receipt(m, &back.r, &err)) << err.msg;
        protobuf_c_message_free_unpacked(&m->base, nullptr);
        return back.r ? Payload(back.r) : "";
}

TEST(ReceiptProto, RunRequestRoundTrips)
{
        ReceiptPtr r;
        r.r = SampleRun();
        EXPECT_EQ(Payload(r.r), ThroughRequest(r.r));
        /* None and Some("") stay apart */
        free(r.r->invocation.run.image);
        r.r->invocation.run.image = nullptr;
        free(r.r->invocation.run.backend);
        r.r->invocation.run.backend = Dup("");
        std::string p = Payload(r.r);
        EXPECT_NE(std::string::npos, p.find("\"image\":null,\"backend\":\"\""));
        EXPECT_EQ(p, ThroughRequest(r.r));
}

TEST(ReceiptProto, ExecRequestRoundTrips)
{
        ReceiptPtr r;
        r.r = SampleExec();
        std::string p = Payload(r.r);
        EXPECT_NE(std::string::npos, p.find("\"workdir\":\"\""));
        EXPECT_NE(std::string::npos, p.find("\"output_bytes\":18446744073709551615"));
        EXPECT_EQ(p, ThroughRequest(r.r));
        free(r.r->invocation.exec.workdir);
        r.r->invocation.exec.workdir = nullptr;
        free(r.r->outcome.error);
        r.r->outcome.error = nullptr;
        receipt_strv_free(r.r->invocation.exec.command, r.r->invocation.exec.n_command);
        r.r->invocation.exec.command = nullptr;
        r.r->invocation.exec.n_command = 0;
        EXPECT_EQ(Payload(r.r), ThroughRequest(r.r));
}

TEST(ReceiptProto, WholeReceiptRoundTripsAndVerifies)
{
        struct crypto_ed25519_key *key = nullptr;
        ASSERT_EQ(0, crypto_ed25519_key_generate(&key));
        for (auto make : {SampleRun, SampleExec}) {
                ReceiptPtr r;
                r.r = make();
                ASSERT_EQ(0, receipt_finalize(r.r, key));
                char *json = nullptr;
                size_t len;
                ASSERT_EQ(0, receipt_to_json(r.r, true, &json, &len));
                Ak__V1__Receipt *m = nullptr;
                ASSERT_EQ(0, receipt_proto_from_receipt(r.r, json, &m));
                EXPECT_STREQ(json, m->json);
                EXPECT_EQ(1u, m->version);
                ASSERT_NE(nullptr, m->signature);
                EXPECT_STREQ("ed25519", m->signature->algorithm);
                ReceiptPtr back;
                struct ak_error err = {};
                ASSERT_EQ(0, receipt_proto_to_receipt(m, &back.r, &err)) << err.msg;
                char *error = nullptr;
                EXPECT_EQ(0, receipt_verify(back.r, false, &error)) << error;
                char *json2 = nullptr;
                ASSERT_EQ(0, receipt_to_json(back.r, true, &json2, &len));
                EXPECT_STREQ(json, json2);
                free(json);
                free(json2);
                protobuf_c_message_free_unpacked(&m->base, nullptr);
        }
        /* unsigned stays unsigned */
        ReceiptPtr u;
        u.r = SampleRun();
        ASSERT_EQ(0, receipt_finalize(u.r, nullptr));
        Ak__V1__Receipt *m = nullptr;
        ASSERT_EQ(0, receipt_proto_from_receipt(u.r, nullptr, &m));
        EXPECT_EQ(nullptr, m->signature);
        EXPECT_STREQ("", m->json);
        ReceiptPtr back;
        ASSERT_EQ(0, receipt_proto_to_receipt(m, &back.r, nullptr));
        EXPECT_EQ(nullptr, back.r->signature);
        EXPECT_EQ(0, receipt_verify(back.r, true, nullptr));
        protobuf_c_message_free_unpacked(&m->base, nullptr);
        crypto_ed25519_key_free(key);
}

/* Receipt.tenant carries r->tenant both ways; unset stays unset. */
TEST(ReceiptProto, TenantRoundTrips)
{
        struct crypto_ed25519_key *key = nullptr;
        ASSERT_EQ(0, crypto_ed25519_key_generate(&key));
        ReceiptPtr r;
        r.r = SampleExec();
        ASSERT_EQ(0, receipt_finalize(r.r, key));
        Ak__V1__Receipt *m = nullptr;
        ASSERT_EQ(0, receipt_proto_from_receipt(r.r, nullptr, &m));
        EXPECT_EQ(AK__V1__RECEIPT__TENANT_OPT__NOT_SET, m->tenant_opt_case);
        ReceiptPtr back;
        ASSERT_EQ(0, receipt_proto_to_receipt(m, &back.r, nullptr));
        EXPECT_EQ(nullptr, back.r->tenant);
        protobuf_c_message_free_unpacked(&m->base, nullptr);

        r.r->tenant = Dup("team-a");
        ASSERT_EQ(0, receipt_proto_from_receipt(r.r, nullptr, &m));
        ASSERT_EQ(AK__V1__RECEIPT__TENANT_OPT_TENANT, m->tenant_opt_case);
        EXPECT_STREQ("team-a", m->tenant);
        ReceiptPtr back2;
        struct ak_error err = {};
        ASSERT_EQ(0, receipt_proto_to_receipt(m, &back2.r, &err)) << err.msg;
        EXPECT_STREQ("team-a", back2.r->tenant);
        EXPECT_EQ(0, receipt_verify(back2.r, false, nullptr));
        protobuf_c_message_free_unpacked(&m->base, nullptr);

        /* An empty tenant is a tenant ("" is not None), as for the other options. */
        free(r.r->tenant);
        r.r->tenant = Dup("");
        ASSERT_EQ(0, receipt_proto_from_receipt(r.r, nullptr, &m));
        ReceiptPtr back3;
        ASSERT_EQ(0, receipt_proto_to_receipt(m, &back3.r, nullptr));
        EXPECT_STREQ("", back3.r->tenant);
        protobuf_c_message_free_unpacked(&m->base, nullptr);
        crypto_ed25519_key_free(key);
}

/* Like a request's strings, Receipt.tenant's bytes are checked on the way in. */
TEST(ReceiptProto, TenantBytesChecked)
{
        ReceiptPtr r;
        r.r = SampleRun();
        ASSERT_EQ(0, receipt_finalize(r.r, nullptr));
        Ak__V1__Receipt *m = nullptr;
        ASSERT_EQ(0, receipt_proto_from_receipt(r.r, nullptr, &m));
        m->tenant_opt_case = AK__V1__RECEIPT__TENANT_OPT_TENANT;
        m->tenant = strdup("t\xff");
        ReceiptPtr back;
        struct ak_error err = {};
        EXPECT_EQ(-EINVAL, receipt_proto_to_receipt(m, &back.r, &err));
        EXPECT_STREQ("tenant: not valid UTF-8 (bad byte at offset 1)", err.msg);
        protobuf_c_message_free_unpacked(&m->base, nullptr);
}

/* What the executor does to the signer's answer: the JSON gains the tenant
 * key last, nothing else changes, and it still verifies. */
TEST(ReceiptProto, SetTenantRewritesTheJsonOnlyByTheKey)
{
        struct crypto_ed25519_key *key = nullptr;
        ASSERT_EQ(0, crypto_ed25519_key_generate(&key));
        for (bool pretty : {true, false}) {
                ReceiptPtr r;
                r.r = SampleExec();
                ASSERT_EQ(0, receipt_finalize(r.r, key));
                char *json = nullptr;
                size_t len;
                ASSERT_EQ(0, receipt_to_json(r.r, pretty, &json, &len));
                const std::string before(json, len);
                Ak__V1__Receipt *m = nullptr;
                ASSERT_EQ(0, receipt_proto_from_receipt(r.r, json, &m));
                free(json);
                /* As the signer's answer arrives: packed and unpacked. */
                size_t n = protobuf_c_message_get_packed_size(&m->base);
                std::vector<uint8_t> buf(n);
                protobuf_c_message_pack(&m->base, buf.data());
                protobuf_c_message_free_unpacked(&m->base, nullptr);
                m = ak__v1__receipt__unpack(nullptr, n, buf.data());
                ASSERT_NE(nullptr, m);

                struct ak_error err = {};
                ASSERT_EQ(0, receipt_proto_set_tenant(m, "team-a", &err)) << err.msg;
                size_t end = before.rfind(pretty ? "\n}" : "}");
                std::string want = before.substr(0, end) +
                                   (pretty ? ",\n  \"tenant\": \"team-a\"" : ",\"tenant\":\"team-a\"") +
                                   before.substr(end);
                EXPECT_EQ(want, std::string(m->json));
                EXPECT_STREQ("team-a", m->tenant);
                struct receipt *file = nullptr;
                char *why = nullptr;
                ASSERT_EQ(0, receipt_from_json(m->json, strlen(m->json), &file, &why)) << why;
                EXPECT_STREQ("team-a", file->tenant);
                EXPECT_EQ(0, receipt_verify(file, false, &why)) << why;
                receipt_free(file);

                /* Renamed, then removed: back to the signer's bytes. */
                ASSERT_EQ(0, receipt_proto_set_tenant(m, "team-b", &err)) << err.msg;
                EXPECT_NE(std::string::npos, std::string(m->json).find("team-b"));
                EXPECT_EQ(std::string::npos, std::string(m->json).find("team-a"));
                ASSERT_EQ(0, receipt_proto_set_tenant(m, nullptr, &err)) << err.msg;
                EXPECT_EQ(before, std::string(m->json));
                EXPECT_EQ(AK__V1__RECEIPT__TENANT_OPT__NOT_SET, m->tenant_opt_case);
                protobuf_c_message_free_unpacked(&m->base, nullptr);
        }
        crypto_ed25519_key_free(key);
}

TEST(ReceiptProto, SetTenantWithoutJsonOrOnBadJson)
{
        ReceiptPtr r;
        r.r = SampleRun();
        ASSERT_EQ(0, receipt_finalize(r.r, nullptr));
        Ak__V1__Receipt *m = nullptr;
        ASSERT_EQ(0, receipt_proto_from_receipt(r.r, nullptr, &m));
        struct ak_error err = {};
        ASSERT_EQ(0, receipt_proto_set_tenant(m, "team-a", &err)) << err.msg;
        EXPECT_STREQ("", m->json);
        EXPECT_STREQ("team-a", m->tenant);

        ASSERT_EQ(protobuf_c_empty_string, m->json) << "the INIT default, not ours to free";
        m->json = strdup("{\"version\":1}");
        EXPECT_EQ(-EINVAL, receipt_proto_set_tenant(m, "team-b", &err));
        EXPECT_EQ(0, strncmp(err.msg, "receipt json: missing field `receipt_id`", 40)) << err.msg;
        EXPECT_STREQ("{\"version\":1}", m->json) << "unchanged on failure";
        EXPECT_STREQ("team-a", m->tenant);
        protobuf_c_message_free_unpacked(&m->base, nullptr);
}

TEST(ReceiptProto, RefusesIncompleteStructs)
{
        ReceiptPtr r;
        r.r = SampleRun();
        free(r.r->invocation.run.profile);
        r.r->invocation.run.profile = nullptr;
        Ak__V1__SignReceiptRequest *m = nullptr;
        EXPECT_EQ(-EINVAL, receipt_proto_request_from_receipt(r.r, &m));
        Ak__V1__Receipt *full = nullptr;
        EXPECT_EQ(-EINVAL, receipt_proto_from_receipt(r.r, nullptr, &full));
}

/* ---- requests on the wire ---- */

ProtobufCBinaryData Bytes(const std::string &s)
{
        return ProtobufCBinaryData{s.size(), (uint8_t *)s.data()};
}

/* An akwire request (exact bytes) for the negative tests, packed. */
struct WireRequest {
        Akwire__V1__SignReceiptRequest req = AKWIRE__V1__SIGN_RECEIPT_REQUEST__INIT;
        Akwire__V1__Invocation inv = AKWIRE__V1__INVOCATION__INIT;
        Akwire__V1__RunInvocation run = AKWIRE__V1__RUN_INVOCATION__INIT;
        Akwire__V1__ExecInvocation exec = AKWIRE__V1__EXEC_INVOCATION__INIT;
        Akwire__V1__ExecutionOutcome out = AKWIRE__V1__EXECUTION_OUTCOME__INIT;
        std::vector<std::string> strings;
        std::vector<ProtobufCBinaryData> command, env;
        std::string sha = kSha, profile = "moderate";

        WireRequest()
        {
                req.invocation = &inv;
                req.outcome = &out;
                inv.mode_case = AKWIRE__V1__INVOCATION__MODE_RUN;
                inv.run = &run;
                run.profile = Bytes(profile);
                out.output_sha256 = Bytes(sha);
                SetCommand({"echo", "hi"});
        }
        void SetCommand(const std::vector<std::string> &v)
        {
                strings = v;
                command.clear();
                for (auto &s : strings)
                        command.push_back(Bytes(s));
                run.n_command = command.size();
                run.command = command.data();
        }
        std::string Packed() const
        {
                std::string buf(protobuf_c_message_get_packed_size(&req.base), '\0');
                protobuf_c_message_pack(&req.base, (uint8_t *)buf.data());
                return buf;
        }
};

/* Decodes; returns "" on success, else the error message. */
std::string Check(const std::string &bytes, int want = -EINVAL)
{
        ReceiptPtr r;
        struct ak_error err = {};
        int rc = receipt_proto_decode_request((const uint8_t *)bytes.data(), bytes.size(), &r.r, &err);
        if (rc == 0)
                return "";
        EXPECT_EQ(want, rc) << err.msg;
        EXPECT_EQ(nullptr, r.r);
        return err.msg;
}

TEST(ReceiptProtoCheck, AcceptsAGoodRequest)
{
        WireRequest w;
        EXPECT_EQ("", Check(w.Packed()));
}

TEST(ReceiptProtoCheck, NamesMissingParts)
{
        WireRequest w;
        w.req.invocation = nullptr;
        EXPECT_EQ("invocation: missing (set run or exec)", Check(w.Packed()));
        w.req.invocation = &w.inv;
        w.inv.mode_case = AKWIRE__V1__INVOCATION__MODE__NOT_SET;
        EXPECT_EQ("invocation.mode: not set (set run or exec)", Check(w.Packed()));
        w.inv.mode_case = AKWIRE__V1__INVOCATION__MODE_RUN;
        w.req.outcome = nullptr;
        EXPECT_EQ("outcome: missing", Check(w.Packed()));
        EXPECT_EQ("invocation: missing (set run or exec)", Check(""));
}

TEST(ReceiptProtoCheck, OutputSha256Is64LowercaseHex)
{
        for (std::string bad : {std::string(""), std::string(kSha).substr(1), std::string(kSha) + "0",
                                std::string("4A3ED8147E37876ADC8F76328E5ABCC1B470E6ACFC18EFEA0135F983604953A5"),
                                std::string(63, 'a') + "g"}) {
                WireRequest w;
                w.sha = bad;
                w.out.output_sha256 = Bytes(w.sha);
                std::string msg = Check(w.Packed());
                EXPECT_EQ(0u, msg.find("outcome.output_sha256: must be 64 lowercase hex digits")) << bad << ": " << msg;
        }
}

TEST(ReceiptProtoCheck, RefusesNulAndBadUtf8NamingTheField)
{
        WireRequest w;
        w.SetCommand({"echo", std::string("a\0b", 3)});
        EXPECT_EQ("invocation.run.command[1]: contains a NUL byte at offset 1", Check(w.Packed()));
        for (std::string bad : {"\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5", "ab\xe2\x82", "\x80",
                                "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf"}) {
                w.SetCommand({"ok", "x" + bad});
                EXPECT_EQ("invocation.run.command[1]: not valid UTF-8 (bad byte at offset " +
                                  std::to_string(bad == "ab\xe2\x82" ? 3 : 1) + ")",
                          Check(w.Packed()))
                        << bad;
        }
        for (std::string good : {"\xf4\x8f\xbf\xbf", "\xf0\x9f\x98\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\x7f",
                                 "\x01\x1b"}) {
                w.SetCommand({good});
                EXPECT_EQ("", Check(w.Packed())) << good;
        }
        std::string image("img\0", 4);
        w.SetCommand({"ok"});
        w.run.image_opt_case = AKWIRE__V1__RUN_INVOCATION__IMAGE_OPT_IMAGE;
        w.run.image = Bytes(image);
        EXPECT_EQ("invocation.run.image: contains a NUL byte at offset 3", Check(w.Packed()));
}

TEST(ReceiptProtoCheck, EveryStringFieldIsChecked)
{
        std::string nul("\0", 1);
        struct Case {
                const char *field;
                void (*set)(WireRequest &, ProtobufCBinaryData);
        };
        const Case run_cases[] = {
                {"invocation.run.backend",
                 [](WireRequest &w, ProtobufCBinaryData b) {
                         w.run.backend_opt_case = AKWIRE__V1__RUN_INVOCATION__BACKEND_OPT_BACKEND;
                         w.run.backend = b;
                 }},
                {"invocation.run.profile", [](WireRequest &w, ProtobufCBinaryData b) { w.run.profile = b; }},
                {"outcome.error",
                 [](WireRequest &w, ProtobufCBinaryData b) {
                         w.out.error_opt_case = AKWIRE__V1__EXECUTION_OUTCOME__ERROR_OPT_ERROR;
                         w.out.error = b;
                 }},
                {"invocation.exec.name",
                 [](WireRequest &w, ProtobufCBinaryData b) {
                         w.inv.mode_case = AKWIRE__V1__INVOCATION__MODE_EXEC;
                         w.inv.exec = &w.exec;
                         w.exec.name = b;
                 }},
                {"invocation.exec.command[0]",
                 [](WireRequest &w, ProtobufCBinaryData b) {
                         w.inv.mode_case = AKWIRE__V1__INVOCATION__MODE_EXEC;
                         w.inv.exec = &w.exec;
                         w.command = {b};
                         w.exec.n_command = 1;
                         w.exec.command = w.command.data();
                 }},
                {"invocation.exec.env[0]",
                 [](WireRequest &w, ProtobufCBinaryData b) {
                         w.inv.mode_case = AKWIRE__V1__INVOCATION__MODE_EXEC;
                         w.inv.exec = &w.exec;
                         w.env = {b};
                         w.exec.n_env = 1;
                         w.exec.env = w.env.data();
                 }},
                {"invocation.exec.workdir",
                 [](WireRequest &w, ProtobufCBinaryData b) {
                         w.inv.mode_case = AKWIRE__V1__INVOCATION__MODE_EXEC;
                         w.inv.exec = &w.exec;
                         w.exec.workdir_opt_case = AKWIRE__V1__EXEC_INVOCATION__WORKDIR_OPT_WORKDIR;
                         w.exec.workdir = b;
                 }},
        };
        for (const Case &c : run_cases) {
                WireRequest w;
                c.set(w, Bytes(nul));
                EXPECT_EQ(std::string(c.field) + ": contains a NUL byte at offset 0", Check(w.Packed()));
                WireRequest ok;
                std::string fine = "fine";
                c.set(ok, Bytes(fine));
                EXPECT_EQ("", Check(ok.Packed())) << c.field;
        }
}

TEST(ReceiptProtoCheck, SizeLimits)
{
        WireRequest w;
        std::string big(RECEIPT_PROTO_MAX_STRING + 1, 'a');
        w.SetCommand({"ok", big});
        EXPECT_EQ("invocation.run.command[1]: 131073 bytes, more than the 131072 allowed", Check(w.Packed()));
        big.pop_back();
        w.SetCommand({big});
        EXPECT_EQ("", Check(w.Packed()));

        std::vector<std::string> many(RECEIPT_PROTO_MAX_LIST + 1, "x");
        w.SetCommand(many);
        EXPECT_EQ("invocation.run.command: 4097 entries, more than the 4096 allowed", Check(w.Packed()));
        many.pop_back();
        w.SetCommand(many);
        EXPECT_EQ("", Check(w.Packed()));

        /* 9 strings of 128 KiB pass the per-string limit but not the total */
        std::vector<std::string> heavy(9, std::string(RECEIPT_PROTO_MAX_STRING, 'b'));
        w.SetCommand(heavy);
        EXPECT_EQ("invocation.run.command[8]: the request's strings exceed 1048576 bytes in all", Check(w.Packed()));
}

TEST(ReceiptProtoCheck, MalformedProtobufAndPrefix)
{
        EXPECT_EQ("request: malformed protobuf (2 bytes)", Check(std::string("\x0a\x05", 2), -EBADMSG));
        WireRequest w;
        w.req.outcome = nullptr;
        ReceiptPtr r;
        struct ak_error err = {};
        EXPECT_EQ(-EINVAL, receipt_proto_wire_request_to_receipt(&w.req, "items[7].", &r.r, &err));
        EXPECT_STREQ("items[7].outcome: missing", err.msg);
}

/* ---- the mirror stays the contract ---- */

void ExpectMirror(const ProtobufCMessageDescriptor *pub, const ProtobufCMessageDescriptor *wire, int depth = 0)
{
        ASSERT_LT(depth, 8);
        ASSERT_EQ(pub->n_fields, wire->n_fields) << pub->name;
        EXPECT_EQ(std::string("ak.v1.") + pub->short_name, pub->name);
        EXPECT_EQ(std::string("akwire.v1.") + pub->short_name, wire->name);
        for (unsigned i = 0; i < pub->n_fields; i++) {
                const ProtobufCFieldDescriptor *a = &pub->fields[i], *b = &wire->fields[i];
                std::string where = std::string(pub->name) + "." + a->name;
                EXPECT_STREQ(a->name, b->name) << where;
                EXPECT_EQ(a->id, b->id) << where;
                EXPECT_EQ(a->label, b->label) << where;
                EXPECT_EQ(a->flags, b->flags) << where;
                if (a->type == PROTOBUF_C_TYPE_STRING)
                        EXPECT_EQ(PROTOBUF_C_TYPE_BYTES, b->type) << where;
                else
                        EXPECT_EQ(a->type, b->type) << where;
                if (a->type == PROTOBUF_C_TYPE_MESSAGE)
                        ExpectMirror((const ProtobufCMessageDescriptor *)a->descriptor,
                                     (const ProtobufCMessageDescriptor *)b->descriptor, depth + 1);
        }
        ASSERT_EQ(pub->n_field_ranges, wire->n_field_ranges);
}

TEST(ReceiptProtoMirror, MatchesTheContractFieldByField)
{
        ExpectMirror(&ak__v1__sign_receipt_request__descriptor, &akwire__v1__sign_receipt_request__descriptor);
        ExpectMirror(&ak__v1__sign_receipt_batch_request__descriptor,
                     &akwire__v1__sign_receipt_batch_request__descriptor);
        ExpectMirror(&ak__v1__receipt__descriptor, &akwire__v1__receipt__descriptor);
}

}  // namespace
