#!/usr/bin/python3
"""Every manifest against the Kubernetes OpenAPI schemas, offline.

- The objects `kubectl apply -k k8s/` would send, rendered by
  kustomize_render.py (kustomize's transforms that kustomization.yaml uses),
  each file of kustomization.yaml as written, and the Secrets
  make-secrets.sh writes: all validated by validate.mjs with the npm package
  kubernetes-models (tools/deps.sh installs it).
- The validator is tested too: broken copies of the rendered objects (a
  wrong type, a missing required field, a bad enum, an unknown kind) must
  each fail, naming what is wrong.
- kustomize's transforms: namespace: and images: change what they should,
  and a change to the auditor's config renames its ConfigMap and the pod
  template's reference (the auditor rolls). Where kubectl is installed, the
  renderer's output equals `kubectl kustomize` for k8s/ and for variants.

Run by Bazel (//k8s:schema_test) from the runfiles tree.
"""
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.getcwd()
K8S = os.path.join(ROOT, "k8s")
sys.path.insert(0, K8S)
import kustomize_render  # noqa: E402

NODE_MODULES = os.environ.get("AK_NPM_MODULES", "/usr/local/lib/ak-npm/node_modules")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def validate(objects, d, name):
    path = os.path.join(d, name + ".json")
    with open(path, "w") as f:
        json.dump(objects, f)
    r = subprocess.run(["node", os.path.join(K8S, "validate.mjs"), NODE_MODULES, path], capture_output=True,
                       text=True)
    return r.returncode, r.stdout + r.stderr


def raw_objects():
    with open(os.path.join(K8S, "kustomization.yaml")) as f:
        files = yaml.safe_load(f)["resources"]
    out = []
    for name in files:
        with open(os.path.join(K8S, name)) as f:
            out += [o for o in yaml.safe_load_all(f) if o]
    return out


def secrets(d):
    subprocess.run([os.path.join(K8S, "make-secrets.sh"), os.path.join(d, "s"), "ak"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(d, "s", "secrets.yaml")) as f:
        return [o for o in yaml.safe_load_all(f) if o]


def find(objects, kind, name):
    for o in objects:
        if o["kind"] == kind and o["metadata"]["name"].startswith(name):
            return o
    raise KeyError("%s/%s" % (kind, name))


def check_validator_refuses(rendered, d):
    """Each broken copy fails validation, and the message names the path."""
    def broken(edit):
        objs = copy.deepcopy(rendered)
        edit(objs)
        return objs

    def pod(objs, name):
        return find(objs, "Deployment", name)["spec"]["template"]["spec"]
    cases = [
        ("runAsUser as a string", "securityContext/runAsUser",
         lambda o: pod(o, "ak-scheduler")["securityContext"].__setitem__("runAsUser", "nobody")),
        ("a container without its name", "containers/0 must have required property name",
         lambda o: pod(o, "ak-signer")["containers"][0].pop("name")),
        ("a bad seccomp type", "seccompProfile/type",
         lambda o: pod(o, "ak-auditor")["securityContext"]["seccompProfile"].__setitem__("type", "Sometimes")),
        ("replicas as text", "replicas",
         lambda o: find(o, "Deployment", "ak-gateway")["spec"].__setitem__("replicas", "two")),
        ("a kind with no schema", "has no schema",
         lambda o: o.append({"apiVersion": "apps/v1", "kind": "DeamonSet", "metadata": {"name": "typo"}})),
    ]
    for what, want, edit in cases:
        rc, out = validate(broken(edit), d, "broken")
        if rc == 0 or want not in out:
            fail("the validator accepted %s (or did not say %r): rc %d\n%s" % (what, want, rc, out))


def variant(d, name, edit_kustomization, config_text=None):
    vd = os.path.join(d, name)
    shutil.copytree(K8S, vd, ignore=shutil.ignore_patterns("*.py", "*.sh", "*.mjs", "BUILD"))
    kpath = os.path.join(vd, "kustomization.yaml")
    with open(kpath) as f:
        k = yaml.safe_load(f)
    edit_kustomization(k)
    with open(kpath, "w") as f:
        yaml.safe_dump(k, f)
    if config_text is not None:
        with open(os.path.join(vd, "auditor-config", "audit.json"), "w") as f:
            f.write(config_text)
    return vd


def check_transforms(rendered, d):
    base_cm = find(rendered, "ConfigMap", "ak-auditor-config")["metadata"]["name"]
    auditor_pod = find(rendered, "Deployment", "ak-auditor")["spec"]["template"]["spec"]
    refs = [v["configMap"]["name"] for v in auditor_pod["volumes"] if "configMap" in v]
    if refs != [base_cm]:
        fail("the auditor mounts %s, not the generated %s" % (refs, base_cm))
    if not base_cm.startswith("ak-auditor-config-") or len(base_cm) != len("ak-auditor-config-") + 10:
        fail("the generated ConfigMap %s has no hash suffix" % base_cm)

    def reconf(k):
        pass
    new_config = '{"destination":{"type":"file","path":"/var/lib/ak-auditor/audit.jsonl"}}\n'
    v1 = variant(d, "reconfigured", reconf, new_config)
    r1 = kustomize_render.render(v1)
    cm1 = find(r1, "ConfigMap", "ak-auditor-config")
    pod1 = find(r1, "Deployment", "ak-auditor")["spec"]["template"]["spec"]
    if cm1["metadata"]["name"] == base_cm or cm1["data"]["audit.json"] != new_config:
        fail("a new auditor config kept the ConfigMap name %s: the auditor would not roll" % base_cm)
    if [v["configMap"]["name"] for v in pod1["volumes"] if "configMap" in v] != [cm1["metadata"]["name"]]:
        fail("the auditor's pod template does not follow the renamed ConfigMap")

    def relocate(k):
        k["namespace"] = "sandboxes"
        k["images"] = [{"name": "ak/executor", "newName": "registry.example/ak/executor", "newTag": "9.9.9"},
                       {"name": "ak/signer", "newName": "registry.example/ak/signer",
                        "digest": "sha256:" + "ab" * 32}] + [i for i in k["images"] if i["name"] not in
                                                             ("ak/executor", "ak/signer")]
    v2 = variant(d, "relocated", relocate)
    r2 = kustomize_render.render(v2)
    for o in r2:
        if o["kind"] in kustomize_render.CLUSTER_SCOPED:
            continue
        if o["metadata"].get("namespace") != "sandboxes":
            fail("namespace: sandboxes left %s/%s in %s" % (o["kind"], o["metadata"]["name"],
                                                             o["metadata"].get("namespace")))
    if find(r2, "Namespace", "")["metadata"]["name"] != "sandboxes":
        fail("namespace: sandboxes did not rename the Namespace object")
    exe = find(r2, "DaemonSet", "ak-executor")["spec"]["template"]["spec"]["containers"][0]["image"]
    signer = {c["image"] for c in find(r2, "Deployment", "ak-signer")["spec"]["template"]["spec"]["containers"] +
              find(r2, "Deployment", "ak-signer")["spec"]["template"]["spec"]["initContainers"]}
    if exe != "registry.example/ak/executor:9.9.9":
        fail("images: newName/newTag gave the executor %s" % exe)
    if signer != {"registry.example/ak/signer@sha256:" + "ab" * 32}:
        fail("images: digest gave the signer %s" % signer)
    rc, out = validate(r2, d, "relocated")
    if rc != 0:
        fail("the relocated variant does not validate:\n" + out)
    # kubectl refuses the runfiles tree's symbolic links: a copy.
    return [variant(d, "k8s", lambda k: None), v1, v2]


def cross_check_kubectl(dirs):
    if not shutil.which("kubectl"):
        print("schema_test: kubectl is not installed: the renderer is not compared with kubectl kustomize")
        return
    for d in dirs:
        r = subprocess.run(["kubectl", "kustomize", d], capture_output=True, text=True)
        if r.returncode != 0:
            fail("kubectl kustomize %s: %s" % (d, r.stderr.strip()))
            continue
        theirs = sorted(json.dumps(o, sort_keys=True) for o in yaml.safe_load_all(r.stdout) if o)
        mine = sorted(json.dumps(o, sort_keys=True) for o in kustomize_render.render(d))
        if theirs != mine:
            only_mine = [x for x in mine if x not in theirs]
            only_theirs = [x for x in theirs if x not in mine]
            fail("kustomize_render.py and kubectl kustomize differ on %s:\nrenderer: %s\nkubectl: %s" %
                 (d, only_mine[:2], only_theirs[:2]))
        else:
            print("schema_test: kustomize_render.py == kubectl kustomize for %s (%d objects)" %
                  (os.path.basename(d), len(mine)))


def main():
    if not os.path.isfile(os.path.join(NODE_MODULES, "kubernetes-models", "package.json")) or \
            not shutil.which("node"):
        print("SKIPPED: schema_test needs node and the npm package kubernetes-models in %s (tools/deps.sh)" %
              NODE_MODULES)
        return 0
    d = tempfile.mkdtemp(prefix="akschema.")
    try:
        rendered = kustomize_render.render(K8S)
        for name, objs in (("rendered", rendered), ("files", raw_objects()), ("secrets", secrets(d))):
            rc, out = validate(objs, d, name)
            print("schema_test: %s: %s" % (name, out.strip().splitlines()[-1]))
            if rc != 0:
                fail("%s objects fail the schemas:\n%s" % (name, out))
        check_validator_refuses(rendered, d)
        cross_check_kubectl(check_transforms(rendered, d))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if failures:
        print("%d problem(s)" % len(failures), file=sys.stderr)
        return 1
    print("schema_test: every object valid; broken ones refused; kustomize transforms as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
