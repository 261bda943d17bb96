"""Shared compiler flags (warnings are errors: Debian 12's gcc and clang-14 hold it) and rule wrappers for every ak package.

Every C target goes through ak_c_library / ak_c_binary / ak_cc_test so that
warnings and language levels live in one place.
"""

AK_COPTS = [
    "-std=gnu11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
    "-Wformat=2",
    "-Wvla",
    "-D_GNU_SOURCE",
    "-fno-strict-aliasing",
]

AK_CXXOPTS = [
    "-std=c++17",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-Wno-missing-field-initializers",
    "-Wno-sign-compare",
    "-D_GNU_SOURCE",
]

def ak_c_library(name, copts = [], **kwargs):
    native.cc_library(name = name, copts = AK_COPTS + copts, **kwargs)

def ak_c_binary(name, copts = [], **kwargs):
    native.cc_binary(name = name, copts = AK_COPTS + copts, **kwargs)

def ak_cc_test(name, copts = [], deps = [], **kwargs):
    """A GoogleTest test (C++ test file over C code)."""
    native.cc_test(
        name = name,
        copts = AK_CXXOPTS + copts,
        deps = deps + ["//third_party:gtest_main"],
        **kwargs
    )

def ak_fuzz_test(name, srcs, deps = [], corpus = [], **kwargs):
    """A libFuzzer target that is also a regression test.

    Under --config=fuzz it links libFuzzer (run it: bazel-bin/.../NAME -max_total_time=60 DIR).
    Otherwise it links a standalone driver that feeds every file of `corpus`
    through LLVMFuzzerTestOneInput, so seeds and past crashers run in every test run.
    """
    native.cc_test(
        name = name,
        srcs = srcs,
        copts = AK_COPTS,
        deps = deps + select({
            "//tools:fuzzing": [],
            "//conditions:default": ["//tools/fuzz:standalone_main"],
        }),
        linkopts = select({
            "//tools:fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        data = corpus,
        args = ["$(location %s)" % c for c in corpus],
        linkstatic = True,
        **kwargs
    )
