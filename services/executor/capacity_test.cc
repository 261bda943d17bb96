// The capacity model and the memory-pressure check, on /proc texts written
// here (and once on this machine's own /proc).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

extern "C" {
#include "services/executor/capacity.h"
}

namespace {

const char kMeminfo[] =
    "MemTotal:       24684300 kB\n"
    "MemFree:        19792000 kB\n"
    "MemAvailable:   23551000 kB\n"
    "Buffers:          102400 kB\n";

TEST(Capacity, ParsesMeminfo) {
  struct capacity_probe p = {};
  ASSERT_EQ(capacity_parse_meminfo(kMeminfo, strlen(kMeminfo), &p), 0);
  EXPECT_EQ(p.mem_total_kib, 24684300u);
  EXPECT_EQ(p.mem_available_kib, 23551000u);
  // A key inside another line's name does not count; missing keys fail.
  const char odd[] = "XMemTotal: 5 kB\nMemAvailable: 4 kB\n";
  EXPECT_EQ(capacity_parse_meminfo(odd, strlen(odd), &p), -EINVAL);
  const char huge[] = "MemTotal: 123456789012345678901 kB\nMemAvailable: 1 kB\n";
  EXPECT_EQ(capacity_parse_meminfo(huge, strlen(huge), &p), -EINVAL);
  // Cut in the middle of its number: only the bytes given are read.
  EXPECT_EQ(capacity_parse_meminfo(kMeminfo, 20, &p), -EINVAL);
}

TEST(Capacity, ParsesPsi) {
  // "full", the second line, is what counts: "some" is 40% here.
  const char psi[] = "some avg10=40.00 avg60=1.00 avg300=0.00 total=99\nfull avg10=12.34 avg60=0.00\n";
  double v = -1;
  ASSERT_EQ(capacity_parse_psi(psi, strlen(psi), &v), 0);
  EXPECT_NEAR(v, 12.34, 1e-9);
  const char first[] = "full avg10=3.50 avg60=0.00\n";
  ASSERT_EQ(capacity_parse_psi(first, strlen(first), &v), 0);
  EXPECT_NEAR(v, 3.5, 1e-9);
  for (const char* bad : {"some avg10=1.00 avg60=0.00\n", "some avg10=1.00\nfull avg10=", "full avg10=1",
                          "some x\nfull avg10=100.5", "full avg10=1234.00", "some full avg10=1.00", "\nfull avg10=x"})
    EXPECT_EQ(capacity_parse_psi(bad, strlen(bad), &v), -EINVAL) << bad;
  // Only the bytes given are read: a cut before "full" finds nothing.
  EXPECT_EQ(capacity_parse_psi(psi, 50, &v), -EINVAL);
}

// The measured idle cost, not the guest's size, decides how many sandboxes
// a node offers: more than the guest sizes alone would allow, fewer under
// TCG than on KVM, and never more than fit with the reserve kept.
TEST(Capacity, OffersWhatFitsAtTheMeasuredCost) {
  EXPECT_EQ(capacity_sandbox_host_mb(256, true, false), 76u + CAPACITY_VMM_OVERHEAD_TCG_MB);
  EXPECT_EQ(capacity_sandbox_host_mb(256, false, false), 76u + CAPACITY_VMM_OVERHEAD_KVM_MB);
  EXPECT_EQ(capacity_sandbox_host_mb(64, true, false), 64u + CAPACITY_VMM_OVERHEAD_TCG_MB);
  const uint64_t total_kib = 24ull << 20;  // 24 GiB
  uint64_t tcg = capacity_offer_guest_mb(total_kib, 256, true, false),
           kvm = capacity_offer_guest_mb(total_kib, 256, false, false);
  EXPECT_EQ(tcg % 256, 0u);
  uint64_t n_tcg = tcg / 256, n_kvm = kvm / 256;
  EXPECT_GT(n_tcg, (24u << 10) * 3 / 4 / 256);  // more than 3/4 of RAM in 256 MiB guests (72)
  EXPECT_GT(n_kvm, n_tcg);
  // 90% of 24 GiB at 76 + 70 MiB (bench/density, page reporting order 5).
  EXPECT_EQ(n_tcg, 151u);
  EXPECT_LE(n_tcg * capacity_sandbox_host_mb(256, true, false), (24u << 10) * 9 / 10);
  EXPECT_GT((n_tcg + 1) * capacity_sandbox_host_mb(256, true, false), (24u << 10) * 9 / 10);
}

// On ak's small kernel an idle base sandbox costs about 60 MiB under TCG
// (bench/density --fit booted 330 on 24 GiB): the offer follows, to the
// issue's 300 on 24 GiB and not past what fits with the reserve kept.
TEST(Capacity, TheSmallKernelOffersWhatItsFitRunBooted) {
  EXPECT_EQ(capacity_sandbox_host_mb(256, true, true), 28u + 36u);
  EXPECT_EQ(capacity_sandbox_host_mb(16, true, true), 16u + 36u);
  EXPECT_EQ(capacity_sandbox_host_mb(256, false, true), 28u + CAPACITY_VMM_OVERHEAD_KVM_MB);
  const uint64_t total_kib = 24ull << 20;
  uint64_t n = capacity_offer_guest_mb(total_kib, 256, true, true) / 256;
  EXPECT_GE(n, 300u);
  EXPECT_EQ(n, 345u);  // 22118 MiB / 64
  EXPECT_LE(n * capacity_sandbox_host_mb(256, true, true), (24u << 10) * 9 / 10);
  EXPECT_GT(n, 2 * capacity_offer_guest_mb(total_kib, 256, true, false) / 256 - 10);
}

TEST(Capacity, PressureStopsPlacements) {
  struct capacity_probe p = {};
  p.mem_total_kib = 1000000;
  p.mem_available_kib = 500000;
  struct ak_error err = {};
  EXPECT_EQ(capacity_pressure_check(&p, &err), 0);
  p.mem_available_kib = 99000;  // under 10% kept free
  EXPECT_EQ(capacity_pressure_check(&p, &err), -EBUSY);
  EXPECT_NE(strstr(err.msg, "96 MiB available of 976 MiB"), nullptr) << err.msg;
  p.mem_available_kib = 500000;
  p.has_psi = true;
  p.psi_full_avg10 = 25.5;
  EXPECT_EQ(capacity_pressure_check(&p, &err), -EBUSY);
  EXPECT_NE(strstr(err.msg, "25.50%"), nullptr) << err.msg;
  p.psi_full_avg10 = 2.0;
  EXPECT_EQ(capacity_pressure_check(&p, &err), 0);
}

void WriteFile(const std::string& path, const std::string& text) {
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  fputs(text.c_str(), f);
  fclose(f);
}

TEST(Capacity, ProbeReadsAProcTree) {
  char tmpl[] = "/tmp/akcapXXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  WriteFile(dir + "/meminfo", kMeminfo);
  struct capacity_probe p = {};
  struct ak_error err = {};
  ASSERT_EQ(capacity_probe_read(dir.c_str(), &p, &err), 0) << err.msg;
  EXPECT_FALSE(p.has_psi);  // a kernel without PSI
  mkdir((dir + "/pressure").c_str(), 0700);
  WriteFile(dir + "/pressure/memory", "some avg10=40.00 avg60=1.00 avg300=0.00 total=1\nfull avg10=40.00 avg60=1.00 avg300=0.00 total=1\n");
  ASSERT_EQ(capacity_probe_read(dir.c_str(), &p, &err), 0) << err.msg;
  EXPECT_TRUE(p.has_psi);
  EXPECT_EQ(capacity_pressure_check(&p, &err), -EBUSY);
  WriteFile(dir + "/pressure/memory", "garbage\n");
  EXPECT_EQ(capacity_probe_read(dir.c_str(), &p, &err), -EINVAL);
  EXPECT_NE(strstr(err.msg, "pressure/memory"), nullptr) << err.msg;
  unlink((dir + "/pressure/memory").c_str());
  rmdir((dir + "/pressure").c_str());
  unlink((dir + "/meminfo").c_str());
  rmdir(dir.c_str());
  // This machine's own /proc.
  ASSERT_EQ(capacity_probe_read(nullptr, &p, &err), 0) << err.msg;
  EXPECT_GT(p.mem_total_kib, 0u);
}

}  // namespace
