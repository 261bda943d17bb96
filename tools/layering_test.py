#!/usr/bin/python3
"""Checks the dependency rules of ARCHITECTURE.md against the tree.

Scans every #include "..." in the .c, .h and .cc files and every label
("//x/y:z") in the deps-like attributes of the BUILD files, and prints each one
that crosses the rules as file:line: the rule broken. Exit 1 if any does.

Usage: layering_test.py [ROOT]
  ROOT defaults to the directory of the ARCHITECTURE.md beside this script's
  runfiles (under Bazel, //:ARCHITECTURE.md is a data dependency: its symlink
  leads back to the source tree), else the repository this script is in.

A file or target counts as its package: tests, fuzzers and testing/ doubles
too. Test-only code (*_test.*, *_fuzz*, testing/ and fuzz/ directories,
*_test and fuzz rules, testonly = True) may also use tests/testing. Labels in
`data` are programs run or files read, not code used, and are not checked;
neither are `visibility` lists nor load() statements.
"""
import os
import re
import sys

SKIP_DIRS = {"third_party", "node_modules"}
SOURCE = re.compile(r"\.(c|h|cc)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
LABEL = re.compile(r'"//([A-Za-z0-9_./-]*)(?::[^"]*)?"')
RULE_START = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(")
ATTR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=")
NOT_CODE_ATTRS = {"data", "visibility", "name", "corpus"}

# Known violations, each to be removed by its fix: (file, what it uses).
KNOWN = set()


def unit(path):
    """('lib', 'rpc') for lib/rpc/..., ('services', 'executor'), ('vmm', None), ..."""
    parts = path.split(":")[0].split("/")
    if parts[0] in ("lib", "services") and len(parts) > 1:
        return parts[0], parts[1]
    return parts[0], None


def broken(src, dst, test_only):
    """The rule src (a file or package path) breaks by using dst, or None."""
    s, d = unit(src), unit(dst)
    if d[0] == "tools" or s == d:
        return None
    if dst.startswith("tests/testing") and test_only:
        return None
    if dst.startswith("tests/"):
        return "only test-only code may use tests/testing, and nothing else under tests/"
    if s[0] == "lib":
        if d[0] not in ("lib", "protos", "third_party"):
            return "lib/ uses only lib/, protos/ and third_party/"
    elif s[0] == "guest":
        if d[0] == "third_party" and test_only and dst.startswith("third_party:gtest"):
            return None
        if d[0] != "lib" or d[1] in ("rpc", "svc"):
            return "guest/ uses only lib/ (static: not lib/rpc, lib/svc, protos/ or gRPC)"
    elif s[0] == "vmm":
        if d[0] in ("protos", "services", "cli", "guest") or d in (("lib", "rpc"), ("lib", "svc")):
            return "vmm/ never uses protos/, lib/rpc, lib/svc, services/, cli/ or guest/ code"
    elif s[0] == "services":
        if d[0] == "services":
            return "services/%s never uses services/%s: services meet only through protos/" % (s[1], d[1])
    elif s[0] == "cli":
        if d[0] not in ("lib", "protos", "vmm", "third_party"):
            return "cli/ uses lib/, protos/ and vmm/, and runs services only as binaries (Bazel data)"
    return None


def test_only_file(rel):
    base = os.path.basename(rel)
    return bool(re.search(r"_test\.|_fuzz|(^|/)(testing|fuzz)/", rel)) or base.startswith("fuzz_")


def walk(root):
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith((".", "bazel-")) and
                             not (rel_dir == "." and d in SKIP_DIRS))
        for f in sorted(filenames):
            yield os.path.normpath(os.path.join(rel_dir, f))


def check_includes(root, rel, out):
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m or "/" not in m.group(1):
                continue
            dst = m.group(1)
            if dst.startswith("ak/"):  # generated protos, on the include path as ak/v1/*.pb-c.h
                dst = "protos/" + dst
            why = broken(rel, dst, test_only_file(rel))
            if why:
                out.append((rel, n, m.group(1), '#include "%s": %s' % (m.group(1), why)))


def rules(lines):
    """Top-level rule calls of a BUILD file: (kind, first line, its lines)."""
    cur = None
    for n, line in enumerate(lines, 1):
        m = RULE_START.match(line)
        if m:
            if cur:
                yield cur
            cur = (m.group(1), n, [])
        if cur:
            cur[2].append((n, line))
        if line.startswith(")") and cur:
            yield cur
            cur = None
    if cur:
        yield cur


def check_build(root, rel, out):
    pkg = os.path.dirname(rel)
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        lines = f.read().splitlines()
    for kind, _, body in rules(lines):
        if kind in ("load", "package", "exports_files"):
            continue
        text = "\n".join(l for _, l in body)
        test_only = (kind.endswith("_test") or "fuzz" in kind or
                     re.search(r"^\s*testonly\s*=\s*(True|1)", text, re.M) is not None)
        attr = None
        for n, line in body:
            m = ATTR.match(line)
            if m:
                attr = m.group(1)
            if attr in NOT_CODE_ATTRS:
                continue
            for lm in LABEL.finditer(line.split("#", 1)[0]):
                dst = lm.group(1)
                if dst in ("visibility", "conditions") or dst.startswith("tools"):
                    continue
                # gtest by label: "third_party:gtest..." so the guest rule can tell it.
                target = dst + ":" + lm.group(0).split(":", 1)[1].rstrip('"') if ":" in lm.group(0) else dst
                why = broken(pkg, target, test_only)
                if why:
                    label = lm.group(0).strip('"')
                    out.append((rel, n, label, '"%s" in %s: %s' % (label, attr, why)))


def find_root():
    if len(sys.argv) > 1:
        return sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    for cand in (os.path.join(os.getcwd(), "ARCHITECTURE.md"), os.path.join(here, "..", "ARCHITECTURE.md")):
        if os.path.exists(cand):
            return os.path.dirname(os.path.realpath(cand))
    return os.path.dirname(here)


def main():
    root = find_root()
    out = []
    n_src = n_build = 0
    for rel in walk(root):
        if rel.split("/")[0] in ("tests", "bench", "k8s", "tools") and not rel.startswith("tests/testing"):
            continue  # no rules for the top-level test, bench and tool packages
        if SOURCE.search(rel):
            n_src += 1
            check_includes(root, rel, out)
        elif os.path.basename(rel) in ("BUILD", "BUILD.bazel") and "/" in rel:
            n_build += 1
            check_build(root, rel, out)
    bad = 0
    for rel, n, what, msg in out:
        known = (rel, what) in KNOWN
        bad += not known
        print("%s:%d: %s%s" % (rel, n, msg, " (known, tools/layering_test.py KNOWN)" if known else ""))
    print("layering: %d source files, %d BUILD files in %s: %d violation(s), %d known" %
          (n_src, n_build, root, bad, len(out) - bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
