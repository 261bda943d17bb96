// Fitting stdout and stderr into one frame's budget.
#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "guest/output.h"
}

namespace {

TEST(OutputFit, SharesTheBudget) {
  std::string big(1000, 'a'), small(10, 'b');
  size_t o, e;
  EXPECT_FALSE(output_fit(big.data(), big.size(), small.data(), small.size(), 2000, &o, &e));
  EXPECT_EQ(o, 1000u);
  EXPECT_TRUE(output_fit(big.data(), big.size(), small.data(), small.size(), 500, &o, &e));
  EXPECT_EQ(e, 10u);
  EXPECT_EQ(o, 500u - 12 - 2);
  EXPECT_TRUE(output_fit(big.data(), big.size(), big.data(), big.size(), 500, &o, &e));
  EXPECT_EQ(o + 2 + e + 2, 500u);
}

TEST(OutputFit, CountsEscapesAndReplacements) {
  // stdout: 100 invalid bytes, 3 bytes each once written; stderr: 100
  // control characters, 6 each. Both overflow half of 400: 200 each.
  std::string out(100, '\xff'), err(100, '\x01');
  size_t o, e;
  EXPECT_TRUE(output_fit(out.data(), out.size(), err.data(), err.size(), 400, &o, &e));
  EXPECT_EQ(o, (200u - 2) / 3);
  EXPECT_EQ(e, (200u - 2) / 6);
  // A cut never splits a character: "€" is 3 bytes, kept whole or not at all.
  std::string euro = "\xe2\x82\xac\xe2\x82\xac";
  EXPECT_TRUE(output_fit(euro.data(), euro.size(), "", 0, 2 + 5 + 2, &o, &e));
  EXPECT_EQ(o, 3u);
  EXPECT_EQ(e, 0u);
}

}  // namespace
