#!/usr/bin/python3
"""The test cases a `bazel test` run skipped, for tools/test.sh.

Usage: test_skips.py TESTLOGS < labels
  TESTLOGS  `bazel info bazel-testlogs` of that run's configuration
  labels    the run's test targets, one //pkg:name per line

Reads each target's GoogleTest XML (TESTLOGS/pkg/name[/shard_*]/test.xml) and
prints one line per skipped case, "//pkg:name Suite.Case: reason". GoogleTest
1.12 writes a GTEST_SKIP as <testcase result="skipped"> with a <skipped
message="file:line\\nreason"> child; a DISABLED_ test is status="notrun".
Targets without XML or not written by GoogleTest (sh_test) have no cases to
skip and print nothing.
"""
import glob
import os
import sys
import xml.etree.ElementTree as ET


def reason(case):
    if case.get("status") == "notrun":
        return "disabled"
    el = case.find("skipped")
    text = (el.get("message") or el.text or "") if el is not None else ""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    # The first line is the GTEST_SKIP's file:line; the rest is its reason.
    if len(lines) > 1 and ":" in lines[0] and lines[0].rsplit(":", 1)[1].isdigit():
        lines = lines[1:]
    words = " ".join(lines) or "no reason given"
    return words if len(words) <= 200 else words[:197] + "..."


def skipped(label, testlogs):
    pkg, _, name = label[2:].partition(":")
    base = os.path.join(testlogs, pkg, name)
    out = []
    for xml in sorted(glob.glob(os.path.join(base, "test.xml")) +
                      glob.glob(os.path.join(base, "shard_*", "test.xml"))):
        try:
            root = ET.parse(xml).getroot()
        except (ET.ParseError, OSError) as e:
            print(f"test_skips: {label}: cannot read {xml}: {e}", file=sys.stderr)
            continue
        for case in root.iter("testcase"):
            if (case.get("result") == "skipped" or case.find("skipped") is not None or
                    case.get("status") == "notrun"):
                out.append(f"{label} {case.get('classname')}.{case.get('name')}: {reason(case)}")
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for label in sys.stdin.read().split():
        if label.startswith("//"):
            for line in skipped(label, sys.argv[1]):
                print(line)


if __name__ == "__main__":
    main()
