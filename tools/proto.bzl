"""proto_c_library: protoc-c (Debian's protobuf-c-compiler) code for one .proto."""

load("//tools:defs.bzl", "AK_COPTS")

def proto_c_library(name, src, deps = [], visibility = None):
    """Generates and compiles the protobuf-c code of `src`.

    Args:
      name: the cc_library; NAME_proto is a filegroup of src and every
        transitively imported .proto (what protoc-c needs to see).
      src: one .proto file, relative to this package, whose import paths are
        relative to this package too (e.g. "ak/v1/sandbox.proto").
      deps: proto_c_library targets of the files src imports.
    """
    base = src[:-len(".proto")]
    native.filegroup(
        name = name + "_proto",
        srcs = [src] + [d + "_proto" for d in deps],
        visibility = visibility,
    )
    pkg = native.package_name()
    native.genrule(
        name = name + "_gen",
        srcs = [name + "_proto"],
        outs = [base + ".pb-c.c", base + ".pb-c.h"],
        cmd = "protoc-c -I%s --c_out=$(GENDIR)/%s %s/%s" % (pkg, pkg, pkg, src),
    )
    native.cc_library(
        name = name,
        srcs = [base + ".pb-c.c"],
        hdrs = [base + ".pb-c.h"],
        includes = ["."],
        # Generated code: the shared warnings are not ours to fix there.
        copts = ["-w"],
        deps = deps + ["//third_party:protobuf_c"],
        visibility = visibility,
    )
