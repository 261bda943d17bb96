// seed_tiny_stage STORE MARKER: SeedTinyStage for shell tests (tests/e2e),
// with $AK_DEBIAN_MIRROR as the caller set it (see tiny_stage.h); then
// `AK_DEBIAN_MIRROR=... ak image build NAME` builds a real image from it.
#include <stdio.h>
#include <stdlib.h>

#include <string>

#include "vmm/testing/tiny_stage.h"

int main(int argc, char** argv) {
  const char* mirror = getenv("AK_DEBIAN_MIRROR");
  if (argc != 3 || !mirror || std::string(mirror).rfind("http://127.0.0.1:", 0) != 0) {
    fprintf(stderr, "usage: AK_DEBIAN_MIRROR=http://127.0.0.1:PORT/TAG seed_tiny_stage STORE MARKER\n");
    return 2;
  }
  std::string error;
  if (!akvm::SeedTinyStage(argv[1], argv[2], &error)) {
    fprintf(stderr, "seed_tiny_stage: %s\n", error.c_str());
    return 1;
  }
  return 0;
}
