#!/bin/sh
# The alert rules parse (promtool check rules) and fire as their unit tests
# say (promtool test rules); every pod that serves --metrics-listen carries
# prometheus.io scrape annotations naming its port, and a container port
# named "metrics" that the PodMonitor (prometheus/podmonitor.yaml) selects;
# the example dashboard (prometheus/ak-dashboard.json) is JSON whose every
# query PromQL accepts (promtool, as recording rules) and names only series
# the README's metrics table lists.
set -eu
cd "${TEST_SRCDIR:-$(dirname "$0")/..}/${TEST_WORKSPACE:-ak}" 2>/dev/null || cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null 2>&1; then
        echo "SKIPPED: alerts_test needs promtool (Debian package prometheus; tools/deps.sh)"
        exit 0
fi
promtool check rules k8s/prometheus/ak-alerts.rules.yml
(cd k8s/prometheus && promtool test rules ak-alerts_test.yml)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp/dashboard.rules.yml" <<'PY'
import itertools, json, re, sys
d = json.load(open("k8s/prometheus/ak-dashboard.json"))
ids = [p["id"] for p in d["panels"]]
assert len(ids) == len(set(ids)), "dashboard: panel ids repeat: %s" % ids
# Series the README documents: `ak_x_{a,b}_total` spelled out.
documented = set()
for found in re.findall(r"`(ak_[a-z_{},]+)", open("README.md").read()):
    # A last {...} is labels or alternatives: take it both ways.
    for name in (found, re.sub(r"\{[^}]*\}?$", "", found)):
        parts = re.split(r"\{([a-z_,]+)\}", name)
        for combo in itertools.product(*[p.split(",") if i % 2 else [p] for i, p in enumerate(parts)]):
            documented.add("".join(combo))
rules, bad = [], 0
for p in d["panels"]:
    for t in p["targets"]:
        rules.append({"record": "ak_dashboard:panel%d_%s" % (p["id"], t["refId"]), "expr": t["expr"]})
        for m in re.findall(r"\bak_[a-z_]+", t["expr"]):
            base = re.sub(r"_(bucket|count|sum)$", "", m)
            if m not in documented and base not in documented:
                print("FAIL: dashboard panel %r uses %s, which README.md's metrics table does not list" % (p["title"], m))
                bad += 1
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[1], "w"))
sys.exit(1 if bad else 0)
PY
promtool check rules "$tmp/dashboard.rules.yml" >/dev/null
exec /usr/bin/python3 - <<'PY'
import glob, re, sys, yaml
bad = 0
pm = yaml.safe_load(open("k8s/prometheus/podmonitor.yaml"))
if pm.get("kind") != "PodMonitor" or [e.get("port") for e in pm["spec"]["podMetricsEndpoints"]] != ["metrics"]:
    print("FAIL: podmonitor.yaml: want one PodMonitor scraping the port named metrics"); bad += 1
pm_labels = pm["spec"]["selector"]["matchLabels"]
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
            if not any(p.get("name") == "metrics" and str(p.get("containerPort")) == ports[0]
                       for p in c.get("ports", [])):
                print("FAIL: %s: port %s is not named metrics (the PodMonitor's port)" % (where, ports[0])); bad += 1
            labels = (tmpl.get("metadata") or {}).get("labels") or {}
            for k, v in pm_labels.items():
                if labels.get(k) != v:
                    print("FAIL: %s: pod labels %s miss the PodMonitor's %s=%s" % (where, labels, k, v)); bad += 1
sys.exit(1 if bad else 0)
PY
