// Helpers shared by the spool's tests (C++ only).
#pragma once

#include <dirent.h>
#include <string.h>
#include <sys/uio.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "lib/spool/spool.h"

namespace spool_test {

inline struct spool *Open(const std::string &dir, uint64_t max = 0, uint64_t seg = 0, bool prealloc = true,
                          const struct spool_io *io = nullptr)
{
        struct spool_options o = { max, seg, !prealloc, io };
        struct spool *s = nullptr;
        struct ak_error err = {};
        EXPECT_EQ(0, spool_open(dir.c_str(), &o, &s, &err)) << err.msg;
        return s;
}

inline int Append(struct spool *s, const std::vector<std::string> &recs, uint64_t *first = nullptr,
                  std::string *msg = nullptr)
{
        std::vector<struct iovec> iov;
        for (auto &r : recs)
                iov.push_back({(void *)r.data(), r.size()});
        struct ak_error err = {};
        uint64_t f = 0;
        int r = spool_append(s, iov.data(), iov.size(), &f, &err);
        if (first)
                *first = f;
        if (msg)
                *msg = err.msg;
        return r;
}

inline std::vector<std::pair<uint64_t, std::string>> ReadAll(struct spool *s, uint64_t from = 0)
{
        std::vector<std::pair<uint64_t, std::string>> out;
        struct spool_reader *r = nullptr;
        EXPECT_EQ(0, spool_reader_new(s, from, &r));
        uint64_t pos;
        const char *data;
        size_t len;
        int k;
        while ((k = spool_reader_next(r, &pos, &data, &len)) == 1)
                out.emplace_back(pos, std::string(data, len));
        EXPECT_EQ(0, k);
        spool_reader_free(r);
        return out;
}

inline std::vector<std::string> Segments(const std::string &dir)
{
        std::vector<std::string> out;
        DIR *d = opendir(dir.c_str());
        struct dirent *de;
        while (d && (de = readdir(d)))
                if (strstr(de->d_name, ".seg"))
                        out.push_back(de->d_name);
        if (d)
                closedir(d);
        std::sort(out.begin(), out.end());
        return out;
}

inline std::string Rec(int i)
{
        return "{\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(i % 50, 'x') + "\"}";
}

}  // namespace spool_test
