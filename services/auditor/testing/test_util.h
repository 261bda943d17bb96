// Helpers shared by the auditor's tests (C++ only).
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

#include "lib/base/fs.h"
#include "lib/json/json.h"

namespace auditor_test {

// A fresh directory under /tmp (short: Unix socket paths live in it),
// removed with everything in it at the end of the scope.
class TempDir {
      public:
        TempDir()
        {
                char tmpl[] = "/tmp/akaud.XXXXXX";
                char *p = mkdtemp(tmpl);
                if (p)
                        path_ = p;
        }
        ~TempDir()
        {
                if (!path_.empty())
                        ak_rm_rf(path_.c_str());
        }
        const std::string &path() const { return path_; }
        std::string operator/(const std::string &name) const { return path_ + "/" + name; }

      private:
        std::string path_;
};

inline void WriteFile(const std::string &path, const std::string &text)
{
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f << text;
}

inline std::string ReadFile(const std::string &path)
{
        std::ifstream f(path, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        return ss.str();
}

inline std::vector<std::string> Lines(const std::string &text)
{
        std::vector<std::string> out;
        std::stringstream ss(text);
        std::string line;
        while (std::getline(ss, line))
                if (!line.empty())
                        out.push_back(line);
        return out;
}

// Polls cond every 20 ms for up to timeout; true once it holds.
inline bool WaitFor(const std::function<bool()> &cond, std::chrono::milliseconds timeout)
{
        auto until = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < until) {
                if (cond())
                        return true;
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return cond();
}

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
