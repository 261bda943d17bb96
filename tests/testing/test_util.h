// Small helpers for C++ tests: a temporary directory, a file's text, its
// lines, polling for a condition. Header-only; any test may use them.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lib/base/fs.h"

namespace aktest {

// A fresh directory under /tmp (short: Unix socket paths live in it),
// removed with everything in it at the end of the scope.
class TempDir {
      public:
        TempDir()
        {
                char tmpl[] = "/tmp/aktest.XXXXXX";
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

}  // namespace aktest
