// Helpers shared by the auditor's tests (C++ only): tests/testing/test_util.h
// and the uids of delivered events.
#pragma once

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lib/json/json.h"
#include "tests/testing/test_util.h"

namespace auditor_test {

using aktest::Lines;
using aktest::ReadFile;
using aktest::TempDir;
using aktest::WaitFor;
using aktest::WriteFile;

// The "uid" of every object in a JSON array (a webhook body), or of one
// JSON object (a JSONL line). Also looks in metadata.uid (OCSF).
inline void CollectUids(const std::string &json, std::vector<std::string> *out)
{
        struct json_value *v = nullptr;
        if (json_parse(json.data(), json.size(), &v, nullptr) < 0)
                return;
        auto one = [&](const struct json_value *o) {
                const struct json_value *u = json_object_get(o, "uid");
                const struct json_value *m = json_object_get(o, "metadata");
                if (u && json_value_type(u) == JSON_STRING)
                        out->push_back(json_string(u, nullptr));
                else if (m && (u = json_object_get(m, "uid")))
                        out->push_back(json_string(u, nullptr));
        };
        if (json_value_type(v) == JSON_ARRAY)
                for (size_t i = 0; i < json_array_size(v); i++)
                        one(json_array_get(v, i));
        else if (json_value_type(v) == JSON_OBJECT)
                one(v);
        json_value_free(v);
}

}  // namespace auditor_test
