// strmap against std::map under random inserts, replaces and deletes, with
// enough keys to force growth and long probe runs.
#include <stdint.h>

#include <map>
#include <random>
#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "services/scheduler/keyset.h"
#include "services/scheduler/strmap.h"
}

namespace {

TEST(Strmap, MatchesStdMapUnderRandomOperations)
{
        struct strmap *m = strmap_new();
        ASSERT_NE(nullptr, m);
        std::map<std::string, intptr_t> ref;
        std::mt19937 rng(42);
        for (int i = 0; i < 200000; i++) {
                std::string k = "k" + std::to_string(rng() % 3000);
                if (i % 7 == 3)
                        k.push_back('\0');  // keys are bytes, NULs included
                intptr_t v = (intptr_t)(rng() % 1000000) + 1;
                switch (rng() % 3) {
                case 0:
                case 1:
                        ASSERT_EQ(0, strmap_put(m, k.data(), k.size(), (void *)v));
                        ref[k] = v;
                        break;
                case 2: {
                        void *got = strmap_del(m, k.data(), k.size());
                        auto it = ref.find(k);
                        ASSERT_EQ(it == ref.end() ? nullptr : (void *)it->second, got);
                        if (it != ref.end())
                                ref.erase(it);
                        break;
                }
                }
                if (i % 1000 == 0) {
                        ASSERT_EQ(ref.size(), strmap_count(m));
                        for (auto &kv : ref)
                                ASSERT_EQ((void *)kv.second, strmap_get(m, kv.first.data(), kv.first.size()));
                }
        }
        size_t pos = 0, n = 0;
        const char *key;
        size_t len;
        void *v;
        while (strmap_next(m, &pos, &key, &len, &v)) {
                auto it = ref.find(std::string(key, len));
                ASSERT_NE(ref.end(), it);
                EXPECT_EQ((void *)it->second, v);
                n++;
        }
        EXPECT_EQ(ref.size(), n);
        EXPECT_EQ(nullptr, strmap_get(m, "absent", 6));
        strmap_free(m);
        strmap_free(nullptr);
}

TEST(Keyset, RefcountsAndResize)
{
        struct keyset *ks = keyset_new(1);
        struct keyset_key *a, *a2, *b;
        ASSERT_EQ(0, keyset_ref(ks, "a", 1, &a));
        ASSERT_EQ(0, keyset_ref(ks, "a", 1, &a2));
        EXPECT_EQ(a, a2);
        ASSERT_EQ(0, keyset_ref(ks, "b", 1, &b));
        a->bits[0] = 5;
        ASSERT_EQ(0, keyset_resize(ks, 4));
        EXPECT_EQ(5u, keyset_bits(ks, "a", 1)[0]);
        EXPECT_EQ(0u, keyset_bits(ks, "a", 1)[3]);
        EXPECT_EQ(2u, keyset_count(ks));
        keyset_unref(ks, a);
        EXPECT_NE(nullptr, keyset_bits(ks, "a", 1));
        keyset_unref(ks, a2);
        EXPECT_EQ(nullptr, keyset_bits(ks, "a", 1));
        EXPECT_EQ(1u, keyset_count(ks));
        keyset_free(ks);
}

}  // namespace
