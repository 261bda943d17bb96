#!/usr/bin/env python3
"""Metrics of the whole local stack: `ak up` gives each of the five services a
loopback /metrics listener and records it in run/stack.json under "metrics";
every scrape passes Prometheus' own parser (promtool check metrics) and the
Python client's; after a real `ak run` (one VM), a GET through the gateway and
a 404, the series that count them moved by exactly what was done."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

ROOT = os.path.join(os.environ.get("TEST_SRCDIR", ""), os.environ.get("TEST_WORKSPACE", "ak")) \
    if os.environ.get("TEST_SRCDIR") else os.getcwd()
AK = os.path.join(ROOT, "cli", "ak")
SERVICES = ["scheduler", "executor", "signer", "auditor", "gateway"]

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    text_string_to_metric_families = None


def get(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode("utf-8", "replace")


def parse(text):
    """{(name, frozenset(labels.items())): value} with prometheus_client."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples, metric, **labels):
    return samples.get((metric, frozenset(labels.items())), 0.0)


class StackMetrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        missing = [n for n, ok in (("promtool (Debian prometheus)", shutil.which("promtool")),
                                   ("python3-prometheus-client", text_string_to_metric_families))
                   if not ok]
        if missing:
            raise unittest.SkipTest("needs " + " and ".join(missing) + " (tools/deps.sh)")
        cls.home = tempfile.mkdtemp(prefix="akm.", dir="/tmp")
        cls.env = dict(os.environ, AK_HOME=cls.home)
        cls.env.pop("AK_SCHEDULER", None)
        cls.env.pop("AK_TOKEN", None)
        up = subprocess.run([AK, "up", "--gateway-listen", "127.0.0.1:0"], env=cls.env,
                            capture_output=True, text=True, timeout=300)
        if up.returncode != 0:
            cls.tearDownClass()
            raise AssertionError("ak up failed: " + up.stderr)
        with open(os.path.join(cls.home, "run", "stack.json")) as f:
            cls.record = json.load(f)

    @classmethod
    def tearDownClass(cls):
        subprocess.run([AK, "down"], env=cls.env, capture_output=True, timeout=120)
        shutil.rmtree(cls.home, ignore_errors=True)

    def scrape(self, service):
        addr = self.record["metrics"][service]
        status, ctype, text = get("http://%s/metrics" % addr)
        self.assertEqual(status, 200, service)
        self.assertEqual(ctype, "text/plain; version=0.0.4; charset=utf-8", service)
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, "%s: promtool: %s%s" % (service, check.stdout, check.stderr))
        self.assertEqual(check.stdout + check.stderr, "", service)
        return parse(text)

    def scrape_all(self):
        return {s: self.scrape(s) for s in SERVICES}

    def test_metrics_move_with_real_calls(self):
        for s in SERVICES:
            self.assertRegex(self.record["metrics"][s], r"^127\.0\.0\.1:[0-9]+$", s)
        before = self.scrape_all()
        for s in SERVICES:
            self.assertEqual(value(before[s], "ak_build_info", service="ak-" + s, version=self.version(),
                                   agentkernel_version="0.18.1"), 1, s)

        run = subprocess.run([AK, "run", "--", "sh", "-c", "echo hi; exit 3"], env=self.env,
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 3, run.stderr)
        gw = self.record["addresses"]["gateway"]
        self.assertEqual(get("http://%s/health" % gw)[0], 200)
        self.assertEqual(get("http://%s/metrics/nope" % self.record["metrics"]["signer"])[0], 404)

        # The auditor delivers in the background: wait for the file destination.
        deadline = time.time() + 30
        while True:
            after = self.scrape_all()
            dest = [k for k in after["auditor"] if k[0] == "ak_auditor_delivery_backlog_events"]
            if dest and all(after["auditor"][k] == 0 for k in dest) or time.time() > deadline:
                break
            time.sleep(0.5)

        def moved(svc, metric, **labels):
            return value(after[svc], metric, **labels) - value(before[svc], metric, **labels)

        sched = dict(service="ak.v1.Scheduler", method="Run", code="OK")
        self.assertEqual(moved("scheduler", "ak_rpc_server_handled_total", **sched), 1)
        self.assertEqual(moved("scheduler", "ak_rpc_server_handling_seconds_count",
                               service="ak.v1.Scheduler", method="Run"), 1)
        self.assertEqual(value(after["scheduler"], "ak_scheduler_executors", state="live"), 1)
        self.assertEqual(value(after["scheduler"], "ak_scheduler_executors", state="lost"), 0)

        ex = "executor"
        self.assertEqual(moved(ex, "ak_rpc_server_handled_total", service="ak.v1.Executor", method="Run",
                               code="OK"), 1)
        self.assertEqual(moved(ex, "ak_executor_execs_total", exit_code="3"), 1)
        self.assertEqual(moved(ex, "ak_executor_exec_seconds_count"), 1)
        self.assertEqual(moved(ex, "ak_executor_sandbox_start_seconds_count", source="boot")
                         + moved(ex, "ak_executor_sandbox_start_seconds_count", source="pool"), 1)
        self.assertGreaterEqual(value(after[ex], "ak_executor_vm_boot_seconds_count"), 1)
        self.assertEqual(moved(ex, "ak_executor_receipts_total", signed="true"), 1)
        self.assertGreater(value(after[ex], "ak_executor_capacity_vcpus"), 0)
        self.assertGreater(value(after[ex], "ak_executor_capacity_memory_bytes"), 0)
        self.assertEqual(value(after[ex], "ak_executor_sandboxes", state="running"), 0)

        self.assertEqual(moved("signer", "ak_signer_signatures_total", result="ok"), 1)
        self.assertEqual(moved("signer", "ak_rpc_server_handled_total", service="ak.v1.Signer",
                               method="SignReceipt", code="OK"), 1)

        stored = moved("auditor", "ak_auditor_stored_events_total")
        self.assertGreaterEqual(stored, 3)  # created, command_executed, removed
        dest = [dict(k[1])["destination"] for k in after["auditor"] if k[0] == "ak_auditor_delivered_events_total"]
        self.assertEqual(len(dest), 1, dest)
        self.assertEqual(moved("auditor", "ak_auditor_delivered_events_total", destination=dest[0]), stored)
        self.assertEqual(value(after["auditor"], "ak_auditor_delivery_backlog_events", destination=dest[0]), 0)
        self.assertGreater(value(after["auditor"], "ak_auditor_spool_bytes"), 0)

        self.assertEqual(moved("gateway", "ak_gateway_http_responses_total", code="200"), 1)

        # Where the Run's time went (lib/svc/phases.h): each phase once, and
        # the phases add up to the total.
        for svc, fam, phases in (
                ("scheduler", "ak_scheduler_call_phase_seconds",
                 ["place", "first", "output", "close", "release"]),
                ("executor", "ak_executor_call_phase_seconds",
                 ["check", "audit_created", "vm", "record", "audit_started", "prepare", "connect", "command",
                  "sign", "audit_exec", "send_result", "remove"])):
            total = moved(svc, fam + "_sum", call="run", phase="total")
            self.assertEqual(moved(svc, fam + "_count", call="run", phase="total"), 1, svc)
            self.assertGreater(total, 0, svc)
            parts = 0.0
            for ph in phases:
                self.assertEqual(moved(svc, fam + "_count", call="run", phase=ph), 1, (svc, ph))
                parts += moved(svc, fam + "_sum", call="run", phase=ph)
            self.assertAlmostEqual(parts, total, delta=1e-6 + total * 1e-6, msg=svc)
        # The executor's Run is inside the scheduler's; its command inside both.
        self.assertLess(moved("executor", "ak_executor_call_phase_seconds_sum", call="run", phase="total"),
                        moved("scheduler", "ak_scheduler_call_phase_seconds_sum", call="run", phase="total"))
        self.assertGreater(moved("executor", "ak_executor_call_phase_seconds_sum", call="run", phase="command"), 0)

        # One log line per sandbox life event and per exec (lib/svc/log, text format).
        with open(os.path.join(self.home, "logs", "executor.log"), encoding="utf-8", errors="replace") as f:
            log = f.read()
        self.assertRegex(log, r"(?m)^\S+Z info ak-executor: sandbox_created sandbox=\S+ tenant=default ")
        self.assertRegex(log, r"(?m)^\S+Z info ak-executor: exec sandbox=\S+ tenant=default exit_code=3 "
                              r"duration_ms=[0-9]+ timed_out=0 output_bytes=3 ")
        self.assertRegex(log, r"(?m)^\S+Z info ak-executor: sandbox_removed sandbox=\S+ ")

    def version(self):
        out = subprocess.run([AK, "version"], env=self.env, capture_output=True, text=True).stdout
        return out.split()[1] if len(out.split()) > 1 else ""


if __name__ == "__main__":
    unittest.main(verbosity=2)
