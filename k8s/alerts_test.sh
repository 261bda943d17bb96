#!/bin/sh
# The alert rules parse (promtool check rules) and fire as their unit tests
# say (promtool test rules); every pod that serves --metrics-listen carries
# prometheus.io scrape annotations naming its port.
set -eu
cd "${TEST_SRCDIR:-$(dirname "$0")/..}/${TEST_WORKSPACE:-ak}" 2>/dev/null || cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null 2>&1; then
        echo "SKIPPED: alerts_test needs promtool (Debian package prometheus; tools/deps.sh)"
        exit 0
fi
promtool check rules k8s/prometheus/ak-alerts.rules.yml
(cd k8s/prometheus && promtool test rules ak-alerts_test.yml)
exec /usr/bin/python3 - <<'PY'
import glob, re, sys, yaml
bad = 0
for path in sorted(glob.glob("k8s/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        if not doc or doc.get("kind") not in ("Deployment", "DaemonSet", "StatefulSet"):
            continue
        tmpl = doc["spec"]["template"]
        ann = (tmpl.get("metadata") or {}).get("annotations") or {}
        for c in tmpl["spec"]["containers"]:
            ports = [a.split(":")[-1] for a in c.get("args", []) if a.startswith("--metrics-listen=")]
            where = "%s: %s" % (path, c["name"])
            if not ports:
                print("FAIL: %s has no --metrics-listen" % where); bad += 1; continue
            if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != ports[0] \
                    or ann.get("prometheus.io/path") != "/metrics":
                print("FAIL: %s: scrape annotations %s do not name port %s" % (where, ann, ports[0])); bad += 1
            if not any(str(p.get("containerPort")) == ports[0] for p in c.get("ports", [])):
                print("FAIL: %s: no containerPort %s" % (where, ports[0])); bad += 1
sys.exit(1 if bad else 0)
PY
