// The auditor service on loopback, called through the real client
// (lib/rpc), delivering to a real file and a real local webhook sink.
#include "services/auditor/auditor.h"

#include <dirent.h>
#include <string.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "lib/rpc/rpc.h"
#include "protos/ak/v1/auditor.pb-c.h"
#include "services/auditor/server.h"
#include "services/auditor/testing/client_util.h"
#include "services/auditor/testing/http_sink.h"
#include "services/auditor/testing/test_util.h"

namespace {

using auditor_test::CollectUids;
using auditor_test::Emit;
using auditor_test::EmitResult;
using auditor_test::Status;
using auditor_test::Lines;
using auditor_test::ReadFile;
using auditor_test::TempDir;
using auditor_test::WaitFor;
using namespace std::chrono_literals;

class Sink {
      public:
        Sink() { EXPECT_EQ(0, http_sink_start(&s_)); }
        ~Sink() { http_sink_stop(s_); }
        std::string url() const { return "http://127.0.0.1:" + std::to_string(http_sink_port(s_)) + "/audit"; }
        void respond(int status, int retry_after = -1, unsigned delay_ms = 0)
        {
                http_sink_set_response(s_, status, retry_after, delay_ms);
        }
        std::vector<std::string> uids()
        {
                std::vector<std::string> out;
                for (size_t i = 0;; i++) {
                        char *b = http_sink_body(s_, i);
                        if (!b)
                                break;
                        CollectUids(b, &out);
                        free(b);
                }
                return out;
        }
        bool has_all(const std::vector<std::string> &want)
        {
                auto got = uids();
                std::set<std::string> have(got.begin(), got.end());
                for (auto &u : want)
                        if (!have.count(u))
                                return false;
                return true;
        }
        struct http_sink *raw() { return s_; }

      private:
        struct http_sink *s_ = nullptr;
};

// An auditor with the given config JSON, served on 127.0.0.1, and a client channel.
class Service {
      public:
        Service(const std::string &spool, const std::string &config)
        {
                struct audit_config *c = nullptr;
                struct ak_error err = {};
                EXPECT_EQ(0, audit_config_parse(config.data(), config.size(), "test", &c, &err)) << err.msg;
                if (!c)
                        return;
                EXPECT_EQ(0, auditor_new(c, spool.c_str(), &a_, &err)) << err.msg;
                if (!a_)
                        return;
                int port = 0;
                EXPECT_EQ(0, rpc_server_new(nullptr, &srv_, &err)) << err.msg;
                EXPECT_EQ(0, rpc_server_listen(srv_, "127.0.0.1:0", nullptr, &port, &err)) << err.msg;
                EXPECT_EQ(0, auditor_server_add(srv_, a_, &err)) << err.msg;
                EXPECT_EQ(0, rpc_server_start(srv_, &err)) << err.msg;
                EXPECT_EQ(0, auditor_start(a_, &err)) << err.msg;
                EXPECT_EQ(0, rpc_channel_new(("127.0.0.1:" + std::to_string(port)).c_str(), nullptr, &ch_, &err));
        }
        ~Service()
        {
                rpc_channel_free(ch_);
                rpc_server_shutdown(srv_, 1000);
                auditor_free(a_);
        }
        bool ok() const { return a_ && srv_ && ch_; }
        struct rpc_channel *ch() { return ch_; }

      private:
        struct auditor *a_ = nullptr;
        struct rpc_server *srv_ = nullptr;
        struct rpc_channel *ch_ = nullptr;
};

struct StatusPtr {
        Ak__V1__AuditorStatus *s;
        explicit StatusPtr(struct rpc_channel *ch) : s(Status(ch)) {}
        ~StatusPtr() { protobuf_c_message_free_unpacked(&s->base, nullptr); }
        Ak__V1__AuditorStatus *operator->() { return s; }
};

size_t CountSegments(const std::string &dir)
{
        size_t n = 0;
        DIR *d = opendir(dir.c_str());
        struct dirent *de;
        while (d && (de = readdir(d)))
                n += strstr(de->d_name, ".seg") != nullptr;
        if (d)
                closedir(d);
        return n;
}

std::vector<std::string> FileUids(const std::string &path)
{
        std::vector<std::string> out;
        for (auto &l : Lines(ReadFile(path)))
                CollectUids(l, &out);
        return out;
}

TEST(Auditor, EmitIsDurableThenDeliveredToAFile)
{
        TempDir dir;
        std::string out = dir / "out/audit.jsonl";
        Service svc(dir / "spool", R"({"destination":{"type":"file","path":")" + out +
                                           R"("},"batch_size":2,"flush_interval_secs":0})");
        ASSERT_TRUE(svc.ok());
        EmitResult r = Emit(svc.ch(), 3);
        ASSERT_EQ(RPC_OK, r.code) << r.message;
        ASSERT_EQ(3u, r.uids.size());
        EXPECT_EQ(1u, r.first);
        EXPECT_EQ(CountSegments(dir / "spool"), 1u);
        ASSERT_TRUE(WaitFor([&] { return FileUids(out).size() == 3; }, 10s)) << ReadFile(out);
        EXPECT_EQ(r.uids, FileUids(out));
        for (auto &line : Lines(ReadFile(out))) {
                struct audit_event *e = nullptr;
                struct ak_error err = {};
                EXPECT_EQ(0, audit_event_from_json(line.data(), line.size(), &e, &err)) << err.msg;
                EXPECT_EQ(0u, line.find("{\"time\":\"")) << line;
                EXPECT_NE(std::string::npos, line.find("\"attributes\":{\"pad\":\"\"}")) << line;
                audit_event_free(e);
        }
        ASSERT_TRUE(WaitFor([&] { return StatusPtr(svc.ch())->destinations[0]->pending == 0; }, 5s));
        StatusPtr st(svc.ch());
        EXPECT_EQ(4u, st->next_position);
        ASSERT_EQ(1u, st->n_destinations);
        EXPECT_EQ("file:" + out, std::string(st->destinations[0]->name));
        EXPECT_EQ(3u, st->destinations[0]->delivered_position);
        EXPECT_STREQ("", st->destinations[0]->last_error);
        EXPECT_EQ(1u << 30, st->spool_limit_bytes);
}

TEST(Auditor, InvalidEventsAreRefusedWhole)
{
        TempDir dir;
        Service svc(dir / "spool", R"({"destination":{"type":"stdout"}})");
        ASSERT_TRUE(svc.ok());
        Ak__V1__AuditEvent good = AK__V1__AUDIT_EVENT__INIT, bad = AK__V1__AUDIT_EVENT__INIT;
        good.type_name = bad.type_name = (char *)"t";
        good.action = bad.action = (char *)"a";
        good.outcome = AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_INFO;
        Ak__V1__AuditEvent *evs[] = { &good, &bad };
        Ak__V1__EmitRequest req = AK__V1__EMIT_REQUEST__INIT;
        req.n_events = 2;
        req.events = evs;
        ProtobufCMessage *resp = nullptr;
        struct ak_error err = {};
        EXPECT_EQ(RPC_INVALID_ARGUMENT,
                  rpc_unary(svc.ch(), &ak__v1__auditor__descriptor, "Emit", &req.base, nullptr, &resp, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "events[1].outcome: unspecified")) << err.msg;
        EXPECT_EQ(1u, StatusPtr(svc.ch())->next_position);

        req.n_events = 0;
        EXPECT_EQ(RPC_INVALID_ARGUMENT,
                  rpc_unary(svc.ch(), &ak__v1__auditor__descriptor, "Emit", &req.base, nullptr, &resp, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "no events")) << err.msg;
        EmitResult r = Emit(svc.ch(), AUDITOR_MAX_EMIT + 1);
        EXPECT_EQ(RPC_INVALID_ARGUMENT, r.code);
        EXPECT_NE(std::string::npos, r.message.find("1001 events in one call")) << r.message;
        r = Emit(svc.ch(), AUDITOR_MAX_EMIT);
        EXPECT_EQ(RPC_OK, r.code) << r.message;
}

TEST(Auditor, TailFromAPositionThenLive)
{
        TempDir dir;
        Service svc(dir / "spool", R"({"destination":{"type":"file","path":")" + (dir / "o.jsonl") + R"("}})");
        ASSERT_TRUE(svc.ok());
        EmitResult r = Emit(svc.ch(), 5);
        ASSERT_EQ(RPC_OK, r.code);

        Ak__V1__TailRequest req = AK__V1__TAIL_REQUEST__INIT;
        req.from_position = 2;
        struct rpc_stream *st = nullptr;
        struct ak_error err = {};
        ASSERT_EQ(RPC_OK, rpc_stream_open(svc.ch(), &ak__v1__auditor__descriptor, "Tail", &req.base, nullptr, &st, &err));
        auto next = [&](uint64_t want) {
                ProtobufCMessage *m = nullptr;
                ASSERT_EQ(1, rpc_stream_next(st, &m, &err)) << err.msg;
                auto *te = (Ak__V1__TailEvent *)m;
                EXPECT_EQ(want, te->position);
                ASSERT_NE(nullptr, te->event);
                EXPECT_NE(nullptr, strstr(te->json, te->event->uid));
                EXPECT_EQ(AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, te->event->outcome);
                EXPECT_STREQ("dev", te->event->resource->resource_id);
                protobuf_c_message_free_unpacked(m, nullptr);
        };
        for (uint64_t p = 2; p <= 5; p++)
                next(p);
        ASSERT_EQ(RPC_OK, Emit(svc.ch(), 1).code);
        next(6);
        rpc_stream_free(st);

        req.from_position = 0;
        req.from_now = true;
        ASSERT_EQ(RPC_OK, rpc_stream_open(svc.ch(), &ak__v1__auditor__descriptor, "Tail", &req.base, nullptr, &st, &err));
        std::this_thread::sleep_for(100ms);
        ASSERT_EQ(RPC_OK, Emit(svc.ch(), 1).code);
        next(7);
        rpc_stream_free(st);

        req.from_now = false;
        req.from_position = 99;
        ASSERT_EQ(RPC_OK, rpc_stream_open(svc.ch(), &ak__v1__auditor__descriptor, "Tail", &req.base, nullptr, &st, &err));
        ProtobufCMessage *m = nullptr;
        EXPECT_EQ(-RPC_OUT_OF_RANGE, rpc_stream_next(st, &m, &err));
        EXPECT_NE(nullptr, strstr(err.msg, "from_position 99 is past the end")) << err.msg;
        rpc_stream_free(st);
}

TEST(Auditor, WebhookGetsAJsonArrayWithItsHeaders)
{
        TempDir dir;
        Sink sink;
        Service svc(dir / "spool", R"({"destination":{"type":"http_webhook","url":")" + sink.url() +
                                           R"(","authorization":"Bearer tok123","headers":{"X-Tenant":"acme"}},
                                           "batch_size":3,"flush_interval_secs":0})");
        ASSERT_TRUE(svc.ok());
        EmitResult r = Emit(svc.ch(), 3);
        ASSERT_EQ(RPC_OK, r.code);
        ASSERT_TRUE(WaitFor([&] { return sink.has_all(r.uids); }, 10s));
        char *body = http_sink_body(sink.raw(), 0);
        ASSERT_NE(nullptr, body);
        EXPECT_EQ('[', body[0]);
        std::vector<std::string> got;
        CollectUids(body, &got);
        EXPECT_EQ(r.uids, got); // one batch of three, in order
        free(body);
        char *h = http_sink_last_headers(sink.raw());
        std::string headers = h ? h : "";
        free(h);
        EXPECT_EQ(0u, headers.find("POST /audit HTTP/1.1\r\n")) << headers;
        EXPECT_NE(std::string::npos, headers.find("Content-Type: application/json\r\n")) << headers;
        EXPECT_NE(std::string::npos, headers.find("Authorization: Bearer tok123\r\n")) << headers;
        EXPECT_NE(std::string::npos, headers.find("X-Tenant: acme\r\n")) << headers;
}

// 500s, then 429 with Retry-After, then a sink slower than the request
// timeout, then a good sink: everything acknowledged arrives, uids intact.
TEST(Auditor, AnUnhealthyWebhookLosesNothing)
{
        TempDir dir;
        Sink sink;
        sink.respond(500);
        Service svc(dir / "spool", R"({"destination":{"type":"http_webhook","url":")" + sink.url() +
                                           R"("},"batch_size":7,"flush_interval_secs":0,"max_retries":2,
                                           "retry_backoff_initial_ms":20,"retry_backoff_max_secs":1,
                                           "request_timeout_secs":1})");
        ASSERT_TRUE(svc.ok());
        std::vector<std::string> acked;
        for (int i = 0; i < 10; i++) {
                EmitResult r = Emit(svc.ch(), 5);
                ASSERT_EQ(RPC_OK, r.code) << r.message;
                acked.insert(acked.end(), r.uids.begin(), r.uids.end());
        }
        ASSERT_TRUE(WaitFor([&] { return http_sink_requests(sink.raw()) >= 4; }, 10s));
        EXPECT_EQ(0u, http_sink_accepted(sink.raw()));
        {
                StatusPtr st(svc.ch());
                EXPECT_NE(nullptr, strstr(st->destinations[0]->last_error, "HTTP 500"))
                        << st->destinations[0]->last_error;
                EXPECT_EQ(50u, st->destinations[0]->pending);
        }
        size_t before = http_sink_requests(sink.raw());
        sink.respond(429, 1);
        ASSERT_TRUE(WaitFor([&] { return http_sink_requests(sink.raw()) >= before + 2; }, 10s));
        EXPECT_NE(nullptr, strstr(StatusPtr(svc.ch())->destinations[0]->last_error, "HTTP 429"));
        sink.respond(200, -1, 1500); // slower than request_timeout_secs
        before = http_sink_requests(sink.raw());
        ASSERT_TRUE(WaitFor([&] { return http_sink_requests(sink.raw()) >= before + 1; }, 10s));
        std::this_thread::sleep_for(1600ms);
        EXPECT_NE(nullptr, strstr(StatusPtr(svc.ch())->destinations[0]->last_error, "Timeout"))
                << StatusPtr(svc.ch())->destinations[0]->last_error;
        sink.respond(200);
        ASSERT_TRUE(WaitFor([&] { return sink.has_all(acked); }, 30s));
        ASSERT_TRUE(WaitFor([&] { return StatusPtr(svc.ch())->destinations[0]->pending == 0; }, 10s));
        EXPECT_STREQ("", StatusPtr(svc.ch())->destinations[0]->last_error);
}

TEST(Auditor, RejectedBatchesGoToTheDeadLetterFile)
{
        TempDir dir;
        Sink sink;
        sink.respond(400);
        Service svc(dir / "spool", R"({"destination":{"type":"http_webhook","url":")" + sink.url() +
                                           R"("},"batch_size":10,"flush_interval_secs":0})");
        ASSERT_TRUE(svc.ok());
        EmitResult r = Emit(svc.ch(), 4);
        ASSERT_EQ(RPC_OK, r.code);
        std::string dl = dir / "spool/dead_letter.jsonl";
        ASSERT_TRUE(WaitFor([&] { return StatusPtr(svc.ch())->destinations[0]->dead_lettered == 4; }, 10s));
        auto lines = Lines(ReadFile(dl));
        ASSERT_EQ(1u, lines.size());
        struct json_value *v = nullptr;
        ASSERT_EQ(0, json_parse(lines[0].data(), lines[0].size(), &v, nullptr));
        uint64_t status = 0;
        json_number_u64(json_object_get(v, "http_status"), &status);
        EXPECT_EQ(400u, status);
        EXPECT_STREQ("try later", json_string(json_object_get(v, "response"), nullptr));
        EXPECT_STREQ(("http_webhook:" + sink.url()).c_str(), json_string(json_object_get(v, "destination"), nullptr));
        const struct json_value *events = json_object_get(v, "events");
        ASSERT_EQ(4u, json_array_size(events));
        EXPECT_STREQ(r.uids[3].c_str(), json_string(json_object_get(json_array_get(events, 3), "uid"), nullptr));
        json_value_free(v);
        EXPECT_NE(nullptr, strstr(StatusPtr(svc.ch())->destinations[0]->last_error, "dead-letter"));

        // The cursor moved on: later events are delivered, the rejected ones are not retried.
        sink.respond(200);
        EmitResult r2 = Emit(svc.ch(), 2);
        ASSERT_TRUE(WaitFor([&] { return sink.has_all(r2.uids); }, 10s));
        EXPECT_EQ(2u, sink.uids().size());
}

TEST(Auditor, AFullSpoolRefusesNewEventsAndKeepsTheOld)
{
        TempDir dir;
        Sink sink;
        sink.respond(503);
        Service svc(dir / "spool", R"({"destination":{"type":"http_webhook","url":")" + sink.url() +
                                           R"("},"batch_size":50,"flush_interval_secs":0,
                                           "retry_backoff_initial_ms":20,"retry_backoff_max_secs":1,
                                           "spool_max_bytes":65536,"spool_segment_bytes":8192})");
        ASSERT_TRUE(svc.ok());
        std::vector<std::string> acked;
        EmitResult r;
        for (int i = 0; i < 200; i++) {
                r = Emit(svc.ch(), 2, "sandbox_created", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, 500);
                if (r.code != RPC_OK)
                        break;
                acked.insert(acked.end(), r.uids.begin(), r.uids.end());
        }
        ASSERT_EQ(RPC_RESOURCE_EXHAUSTED, r.code) << r.message;
        EXPECT_NE(std::string::npos, r.message.find("full")) << r.message;
        EXPECT_GT(acked.size(), 20u);
        StatusPtr st(svc.ch());
        EXPECT_LE(st->spool_bytes, 65536u);
        EXPECT_EQ(acked.size() + 1, st->next_position);

        sink.respond(200);
        ASSERT_TRUE(WaitFor([&] { return sink.has_all(acked); }, 30s));
        // Delivered segments were deleted: there is room again.
        ASSERT_TRUE(WaitFor([&] { return Emit(svc.ch(), 2, "t", AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_INFO,
                                              500).code == RPC_OK; },
                            10s));
}

TEST(Auditor, OcsfFormatAndSeveralDestinations)
{
        TempDir dir;
        Sink sink;
        sink.respond(500);
        std::string a = dir / "a.jsonl", o = dir / "o.jsonl";
        Service svc(dir / "spool", R"({"destinations":[
                        {"type":"file","path":")" + a + R"("},
                        {"type":"file","path":")" + o + R"(","format":"ocsf"},
                        {"type":"http_webhook","url":")" + sink.url() + R"("}],
                    "batch_size":5,"flush_interval_secs":0,"retry_backoff_initial_ms":20,
                    "retry_backoff_max_secs":1,"spool_segment_bytes":4096})");
        ASSERT_TRUE(svc.ok());
        std::vector<std::string> acked;
        for (int i = 0; i < 20; i++) {
                EmitResult r = Emit(svc.ch(), 5, i % 2 ? "command_executed" : "sandbox_created",
                                    AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, 100);
                ASSERT_EQ(RPC_OK, r.code);
                acked.insert(acked.end(), r.uids.begin(), r.uids.end());
        }
        ASSERT_TRUE(WaitFor([&] { return FileUids(a).size() == 100 && FileUids(o).size() == 100; }, 20s));
        EXPECT_EQ(acked, FileUids(a));
        EXPECT_EQ(acked, FileUids(o));
        auto ocsf = Lines(ReadFile(o));
        EXPECT_NE(std::string::npos, ocsf[0].find("\"class_uid\":6003")) << ocsf[0];
        EXPECT_NE(std::string::npos, ocsf[5].find("\"class_uid\":1007")) << ocsf[5];
        // The webhook is behind: the segments it has not delivered stay.
        EXPECT_GT(CountSegments(dir / "spool"), 2u);
        sink.respond(200);
        ASSERT_TRUE(WaitFor([&] { return sink.has_all(acked); }, 30s));
        ASSERT_TRUE(WaitFor([&] { return CountSegments(dir / "spool") == 1; }, 10s));
}

TEST(Auditor, ARestartResumesFromTheRecordedCursor)
{
        TempDir dir;
        std::string out = dir / "o.jsonl";
        std::string cfg = R"({"destination":{"type":"file","path":")" + out + R"("},"flush_interval_secs":3600})";
        std::vector<std::string> acked;
        {
                Service svc(dir / "spool", cfg);
                ASSERT_TRUE(svc.ok());
                EmitResult r = Emit(svc.ch(), 5);
                ASSERT_EQ(RPC_OK, r.code);
                acked = r.uids;
                // batch_size 10 and an hour's interval: nothing goes out until shutdown drains.
                std::this_thread::sleep_for(300ms);
                EXPECT_TRUE(FileUids(out).empty());
        }
        EXPECT_EQ(acked, FileUids(out));
        {
                Service svc(dir / "spool", cfg);
                ASSERT_TRUE(svc.ok());
                EmitResult r = Emit(svc.ch(), 10);
                ASSERT_EQ(RPC_OK, r.code);
                acked.insert(acked.end(), r.uids.begin(), r.uids.end());
                ASSERT_TRUE(WaitFor([&] { return FileUids(out).size() >= 15; }, 10s));
        }
        EXPECT_EQ(acked, FileUids(out)); // nothing delivered twice after a clean restart
}

TEST(Auditor, ConcurrentEmittersAllGetDistinctPositions)
{
        TempDir dir;
        Service svc(dir / "spool", R"({"destination":{"type":"file","path":")" + (dir / "o.jsonl") +
                                           R"("},"flush_interval_secs":0,"batch_size":100})");
        ASSERT_TRUE(svc.ok());
        std::vector<std::thread> ts;
        std::mutex mu;
        std::set<uint64_t> firsts;
        std::set<std::string> uids;
        for (int t = 0; t < 8; t++)
                ts.emplace_back([&] {
                        for (int i = 0; i < 20; i++) {
                                EmitResult r = Emit(svc.ch(), 3);
                                ASSERT_EQ(RPC_OK, r.code);
                                std::lock_guard<std::mutex> l(mu);
                                EXPECT_TRUE(firsts.insert(r.first).second);
                                uids.insert(r.uids.begin(), r.uids.end());
                        }
                });
        for (auto &t : ts)
                t.join();
        EXPECT_EQ(480u, uids.size());
        for (uint64_t f : firsts)
                EXPECT_EQ(1u, (f - 1) % 3 == 0 ? 1u : 0u);
        ASSERT_TRUE(WaitFor([&] { return FileUids(dir / "o.jsonl").size() == 480; }, 20s));
}

}  // namespace
