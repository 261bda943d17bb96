// The registry test fixture: executor statuses written as plain C++ data,
// time driven by hand, helpers to place, route and list.
#pragma once

#include <errno.h>
#include <string.h>

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern "C" {
#include "services/scheduler/pbcopy.h"
#include "services/scheduler/registry.h"
}

namespace akt {

struct SandboxDesc {
        std::string name;
        std::map<std::string, std::string> labels;
};

struct PoolDesc {
        std::string image, profile;
        uint32_t ready;
};

// An executor's status as a test writes it; Build() gives the owned,
// unpacked message the registry takes.
struct Status {
        std::string id, address = "127.0.0.1:1";
        uint32_t vcpus = 8, alloc_vcpus = 0;
        uint64_t memory_mb = 8192, alloc_memory_mb = 0;
        std::map<std::string, std::string> labels;
        std::vector<std::string> images;
        std::vector<PoolDesc> pools;
        std::vector<SandboxDesc> sandboxes;
        std::vector<std::pair<std::string, std::string>> pulls; /* image, state */

        Ak__V1__ExecutorStatus *Build() const
        {
                Ak__V1__ExecutorStatus st = AK__V1__EXECUTOR_STATUS__INIT;
                st.executor_id = (char *)id.c_str();
                st.address = (char *)address.c_str();
                Ak__V1__Capacity cap = AK__V1__CAPACITY__INIT, alloc = AK__V1__CAPACITY__INIT;
                cap.vcpus = vcpus;
                cap.memory_mb = memory_mb;
                alloc.vcpus = alloc_vcpus;
                alloc.memory_mb = alloc_memory_mb;
                st.capacity = &cap;
                st.allocated = &alloc;
                std::vector<Ak__V1__ExecutorStatus__LabelsEntry> lab(labels.size());
                std::vector<Ak__V1__ExecutorStatus__LabelsEntry *> labp;
                size_t i = 0;
                for (auto &kv : labels) {
                        ak__v1__executor_status__labels_entry__init(&lab[i]);
                        lab[i].key = (char *)kv.first.c_str();
                        lab[i].value = (char *)kv.second.c_str();
                        labp.push_back(&lab[i++]);
                }
                st.n_labels = labp.size();
                st.labels = labp.data();
                std::vector<char *> imgs;
                for (auto &im : images)
                        imgs.push_back((char *)im.c_str());
                st.n_images = imgs.size();
                st.images = imgs.data();
                std::vector<Ak__V1__PoolStatus> ps(pools.size());
                std::vector<Ak__V1__PoolStatus *> psp;
                for (i = 0; i < pools.size(); i++) {
                        ak__v1__pool_status__init(&ps[i]);
                        ps[i].image = (char *)pools[i].image.c_str();
                        ps[i].profile = (char *)pools[i].profile.c_str();
                        ps[i].ready = pools[i].ready;
                        psp.push_back(&ps[i]);
                }
                st.n_pools = psp.size();
                st.pools = psp.data();
                std::vector<Ak__V1__Sandbox> sbs(sandboxes.size());
                std::vector<Ak__V1__SandboxSpec> specs(sandboxes.size());
                std::vector<Ak__V1__Sandbox *> sbp;
                std::vector<std::vector<Ak__V1__SandboxSpec__LabelsEntry>> sl(sandboxes.size());
                std::vector<std::vector<Ak__V1__SandboxSpec__LabelsEntry *>> slp(sandboxes.size());
                for (i = 0; i < sandboxes.size(); i++) {
                        ak__v1__sandbox__init(&sbs[i]);
                        ak__v1__sandbox_spec__init(&specs[i]);
                        specs[i].name = (char *)sandboxes[i].name.c_str();
                        sl[i].resize(sandboxes[i].labels.size());
                        for (auto &e : sl[i])
                                ak__v1__sandbox_spec__labels_entry__init(&e);
                        size_t j = 0;
                        for (auto &kv : sandboxes[i].labels) {
                                sl[i][j].key = (char *)kv.first.c_str();
                                sl[i][j].value = (char *)kv.second.c_str();
                                slp[i].push_back(&sl[i][j++]);
                        }
                        specs[i].n_labels = slp[i].size();
                        specs[i].labels = slp[i].data();
                        sbs[i].spec = &specs[i];
                        sbs[i].state = AK__V1__SANDBOX_STATE__SANDBOX_STATE_RUNNING;
                        sbp.push_back(&sbs[i]);
                }
                st.n_sandboxes = sbp.size();
                st.sandboxes = sbp.data();
                std::vector<Ak__V1__ImagePull> pl(pulls.size());
                std::vector<Ak__V1__ImagePull *> plp;
                for (i = 0; i < pulls.size(); i++) {
                        ak__v1__image_pull__init(&pl[i]);
                        pl[i].image = (char *)pulls[i].first.c_str();
                        pl[i].state = (char *)pulls[i].second.c_str();
                        pl[i].bytes_done = 5 * (i + 1);
                        pl[i].bytes_total = 10 * (i + 1);
                        plp.push_back(&pl[i]);
                }
                st.n_pulls = plp.size();
                st.pulls = plp.data();
                struct ak_error err;
                EXPECT_EQ(0, spec_check_status(&st, &err)) << err.msg;
                return (Ak__V1__ExecutorStatus *)pbcopy(&st.base);
        }
};

class RegistryTest : public ::testing::Test {
      protected:
        void SetUp() override
        {
                struct registry_config cfg = {};
                cfg.heartbeat_interval_ms = 1000;
                cfg.lost_after_ms = 3000;
                cfg.forget_after_ms = 10000;
                cfg.max_executors = 4;
                ASSERT_EQ(0, registry_new(&cfg, now, &reg));
        }
        void TearDown() override { registry_free(reg); }

        void Register(const Status &s)
        {
                struct ak_error err;
                ASSERT_EQ(0, registry_register(reg, s.Build(), "test", now, &err)) << err.msg;
        }
        int Heartbeat(const Status &s)
        {
                struct ak_error err;
                return registry_heartbeat(reg, s.Build(), "test", now, &err);
        }
        // Places a create of `name` ("" = generated) and returns the claim.
        int Place(const std::string &name, registry_claim *claim, uint32_t vcpus = 0,
                  const std::string &image = "", std::string *msg = nullptr,
                  const std::map<std::string, std::string> &selector = {})
        {
                Ak__V1__SandboxSpec spec = AK__V1__SANDBOX_SPEC__INIT;
                spec.name = (char *)name.c_str();
                spec.image = (char *)image.c_str();
                spec.vcpus = vcpus;
                std::vector<Ak__V1__SandboxSpec__NodeSelectorEntry> sel(selector.size());
                std::vector<Ak__V1__SandboxSpec__NodeSelectorEntry *> selp;
                size_t i = 0;
                for (auto &kv : selector) {
                        ak__v1__sandbox_spec__node_selector_entry__init(&sel[i]);
                        sel[i].key = (char *)kv.first.c_str();
                        sel[i].value = (char *)kv.second.c_str();
                        selp.push_back(&sel[i++]);
                }
                spec.n_node_selector = selp.size();
                spec.node_selector = selp.data();
                struct spec_needs needs;
                struct ak_error err;
                EXPECT_EQ(0, spec_check(&spec, &needs, &err)) << err.msg;
                int r = registry_place(reg, &spec, &needs, nullptr, claim, &err);
                if (msg)
                        *msg = r < 0 ? err.msg : "";
                return r;
        }
        std::string PlaceOn(const std::string &name = "")
        {
                registry_claim c;
                EXPECT_EQ(0, Place(name, &c));
                registry_confirm(reg, &c, nullptr);
                return c.executor_id;
        }
        std::string Owner(const std::string &name, int *code = nullptr)
        {
                struct registry_route r;
                struct ak_error err;
                int rc = registry_route(reg, name.c_str(), nullptr, now, &r, &err);
                if (code)
                        *code = rc;
                return rc == 0 ? std::string(r.executor_id) : std::string(err.msg);
        }
        placement_slot Slot(const std::string &id)
        {
                placement_slot s = {};
                EXPECT_TRUE(registry_slot_of(reg, id.c_str(), &s));
                return s;
        }
        std::vector<std::string> ListNames(const std::map<std::string, std::string> &sel = {},
                                           std::vector<int> *states = nullptr)
        {
                Ak__V1__ListSandboxesRequest req = AK__V1__LIST_SANDBOXES_REQUEST__INIT;
                std::vector<Ak__V1__ListSandboxesRequest__LabelSelectorEntry> e(sel.size());
                std::vector<Ak__V1__ListSandboxesRequest__LabelSelectorEntry *> ep;
                size_t i = 0;
                for (auto &kv : sel) {
                        ak__v1__list_sandboxes_request__label_selector_entry__init(&e[i]);
                        e[i].key = (char *)kv.first.c_str();
                        e[i].value = (char *)kv.second.c_str();
                        ep.push_back(&e[i++]);
                }
                req.n_label_selector = ep.size();
                req.label_selector = ep.data();
                Ak__V1__ListSandboxesResponse *resp = nullptr;
                EXPECT_EQ(0, registry_list_sandboxes(reg, &req, nullptr, now, 1 << 20, &resp));
                std::vector<std::string> names;
                for (size_t j = 0; resp && j < resp->n_sandboxes; j++) {
                        names.push_back(resp->sandboxes[j]->spec->name);
                        if (states)
                                states->push_back(resp->sandboxes[j]->state);
                }
                if (resp)
                        protobuf_c_message_free_unpacked(&resp->base, nullptr);
                return names;
        }

        struct registry *reg = nullptr;
        int64_t now = 1000000;
};

inline Status Exec(const std::string &id)
{
        Status s;
        s.id = id;
        s.address = "127.0.0.1:" + std::to_string(1000 + id.back());
        return s;
}

}  // namespace akt
