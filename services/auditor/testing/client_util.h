// Calling the auditor through the real client, for tests (C++ only).
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lib/rpc/rpc.h"
#include "protos/ak/v1/auditor.pb-c.h"

namespace auditor_test {

struct EmitResult {
        int code;
        std::string message;
        std::vector<std::string> uids;
        uint64_t first;
};

inline EmitResult Emit(struct rpc_channel *ch, size_t n, const char *type = "sandbox_created",
                Ak__V1__EventOutcome outcome = AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_PERMIT, size_t pad = 0)
{
        std::vector<Ak__V1__AuditEvent> evs(n);
        std::vector<Ak__V1__AuditEvent *> ptrs(n);
        std::vector<Ak__V1__ResourceInfo> res(n);
        std::string attrs = "{\"pad\":\"" + std::string(pad, 'p') + "\"}";
        for (size_t i = 0; i < n; i++) {
                Ak__V1__AuditEvent e = AK__V1__AUDIT_EVENT__INIT;
                Ak__V1__ResourceInfo r = AK__V1__RESOURCE_INFO__INIT;
                r.resource_type = (char *)"sandbox";
                r.resource_id_opt_case = AK__V1__RESOURCE_INFO__RESOURCE_ID_OPT_RESOURCE_ID;
                r.resource_id = (char *)"dev";
                r.attributes_json = (char *)attrs.c_str();
                res[i] = r;
                e.type_name = (char *)type;
                e.action = (char *)"create";
                e.outcome = outcome;
                e.resource = &res[i];
                evs[i] = e;
                ptrs[i] = &evs[i];
        }
        Ak__V1__EmitRequest req = AK__V1__EMIT_REQUEST__INIT;
        req.n_events = n;
        req.events = ptrs.data();
        struct rpc_call_options opts = {};
        opts.timeout_ms = 30000;
        ProtobufCMessage *resp = nullptr;
        struct ak_error err = {};
        EmitResult out{};
        out.code = rpc_unary(ch, &ak__v1__auditor__descriptor, "Emit", &req.base, &opts, &resp, &err);
        if (out.code == RPC_OK) {
                auto *r = (Ak__V1__EmitResponse *)resp;
                for (size_t i = 0; i < r->n_uids; i++)
                        out.uids.push_back(r->uids[i]);
                out.first = r->first_position;
                protobuf_c_message_free_unpacked(resp, nullptr);
        } else {
                out.message = err.msg;
        }
        return out;
}

inline Ak__V1__AuditorStatus *Status(struct rpc_channel *ch)
{
        Ak__V1__GetAuditorStatusRequest req = AK__V1__GET_AUDITOR_STATUS_REQUEST__INIT;
        ProtobufCMessage *resp = nullptr;
        struct ak_error err = {};
        EXPECT_EQ(RPC_OK, rpc_unary(ch, &ak__v1__auditor__descriptor, "GetStatus", &req.base, nullptr, &resp, &err))
                << err.msg;
        return (Ak__V1__AuditorStatus *)resp;
}

}  // namespace auditor_test
