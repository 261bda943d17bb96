#!/usr/bin/python3
"""The subset of kustomize that k8s/kustomization.yaml uses, rendered here
so the tests need no kubectl (Debian's archive has none new enough):

  resources:           files in this directory (no remote bases, no dirs)
  namespace:           metadata.namespace of every namespaced object; the
                       Namespace objects renamed to it; ServiceAccount
                       subjects of RoleBindings moved with it
  images:              name -> newName / newTag / digest, on every container
                       and init container
  configMapGenerator:  files (KEY=PATH or PATH) and literals into a
                       ConfigMap named NAME-<hash>, the hash as kustomize v5
                       computes it (sha256 of {"data","kind","name":""} as
                       compact sorted JSON, first 10 hex digits, 0 1 3 a e
                       as g h k m t); references to NAME in pod templates
                       (volumes, projected sources, envFrom, env) renamed

Any other kustomization field is an error: the renderer refuses rather than
render something kubectl would render differently. schema_test compares
this with `kubectl kustomize` where kubectl exists.

Usage: kustomize_render.py DIR  -> the objects as a JSON array on stdout.
"""
import hashlib
import json
import os
import sys

import yaml

KNOWN = {"apiVersion", "kind", "namespace", "resources", "images", "configMapGenerator"}
CLUSTER_SCOPED = {"Namespace", "PriorityClass", "ClusterRole", "ClusterRoleBinding", "StorageClass",
                  "CustomResourceDefinition", "PersistentVolume", "ValidatingWebhookConfiguration",
                  "MutatingWebhookConfiguration", "RuntimeClass"}
POD_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"}


class RenderError(Exception):
    pass


def configmap_hash(data):
    enc = json.dumps({"data": data, "kind": "ConfigMap", "name": ""}, sort_keys=True, separators=(",", ":"),
                     ensure_ascii=False)
    # Go's encoding/json escapes <, > and & in strings.
    enc = enc.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return hashlib.sha256(enc.encode()).hexdigest()[:10].translate(str.maketrans("013ae", "ghkmt"))


def generate_configmap(d, gen):
    unknown = set(gen) - {"name", "files", "literals", "options"}
    if unknown:
        raise RenderError("configMapGenerator %s: unsupported fields %s" % (gen.get("name"), sorted(unknown)))
    data = {}
    for f in gen.get("files", []):
        key, _, path = f.rpartition("=") if "=" in f else (os.path.basename(f), "", f)
        full = os.path.normpath(os.path.join(d, path))
        if not full.startswith(os.path.normpath(d) + os.sep):
            raise RenderError("configMapGenerator %s: %s is outside %s" % (gen["name"], path, d))
        with open(full, encoding="utf-8") as fh:
            data[key] = fh.read()
    for lit in gen.get("literals", []):
        k, _, v = lit.partition("=")
        data[k] = v
    opts = gen.get("options") or {}
    if set(opts) - {"labels", "annotations"}:
        raise RenderError("configMapGenerator %s: unsupported options %s" % (gen["name"], sorted(opts)))
    meta = {"name": "%s-%s" % (gen["name"], configmap_hash(data))}
    if opts.get("labels"):
        meta["labels"] = dict(opts["labels"])
    if opts.get("annotations"):
        meta["annotations"] = dict(opts["annotations"])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def pod_specs(o):
    if o.get("kind") in POD_KINDS:
        yield o["spec"]["template"]["spec"]
    elif o.get("kind") == "CronJob":
        yield o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    elif o.get("kind") == "Pod":
        yield o["spec"]


def rename_configmaps(pod, names):
    for v in pod.get("volumes", []):
        if "configMap" in v and v["configMap"].get("name") in names:
            v["configMap"]["name"] = names[v["configMap"]["name"]]
        for src in (v.get("projected") or {}).get("sources", []):
            if "configMap" in src and src["configMap"].get("name") in names:
                src["configMap"]["name"] = names[src["configMap"]["name"]]
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        for ef in c.get("envFrom", []):
            ref = ef.get("configMapRef")
            if ref and ref.get("name") in names:
                ref["name"] = names[ref["name"]]
        for e in c.get("env", []):
            ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
            if ref and ref.get("name") in names:
                ref["name"] = names[ref["name"]]


def set_image(c, images):
    ref = c.get("image", "")
    if "@" in ref:
        name, tag, digest = ref.split("@")[0], None, ref.split("@")[1]
    else:
        slash = ref.rfind("/")
        colon = ref.rfind(":")
        name, tag, digest = (ref[:colon], ref[colon + 1:], None) if colon > slash else (ref, None, None)
    for im in images:
        if im["name"] != name:
            continue
        name = im.get("newName", name)
        if "digest" in im:
            c["image"] = "%s@%s" % (name, im["digest"])
            return
        tag = im.get("newTag", tag)
        c["image"] = name + (":" + str(tag) if tag else "") + ("@" + digest if digest and "newTag" not in im else "")
        return


def render(d):
    with open(os.path.join(d, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    unknown = set(k) - KNOWN
    if unknown:
        raise RenderError("kustomization.yaml: fields this renderer does not implement: %s" % sorted(unknown))
    objects = []
    for r in k.get("resources", []):
        path = os.path.normpath(os.path.join(d, r))
        if not os.path.isfile(path) or os.path.dirname(path) != os.path.normpath(d):
            raise RenderError("resource %s: only files in %s are supported" % (r, d))
        with open(path) as f:
            objects += [o for o in yaml.safe_load_all(f) if o]
    names = {}
    for gen in k.get("configMapGenerator", []):
        cm = generate_configmap(d, gen)
        names[gen["name"]] = cm["metadata"]["name"]
        objects.append(cm)
    ns = k.get("namespace")
    for o in objects:
        for pod in pod_specs(o):
            rename_configmaps(pod, names)
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                set_image(c, k.get("images", []))
        if not ns:
            continue
        if o["kind"] == "Namespace":
            o["metadata"]["name"] = ns
        elif o["kind"] not in CLUSTER_SCOPED:
            o["metadata"]["namespace"] = ns
        if o["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            for s in o.get("subjects", []):
                if s.get("kind") == "ServiceAccount":
                    s["namespace"] = ns
    return objects


def main():
    if len(sys.argv) != 2:
        print("usage: kustomize_render.py DIR", file=sys.stderr)
        return 2
    try:
        objects = render(sys.argv[1])
    except (RenderError, OSError, yaml.YAMLError) as e:
        print("kustomize_render: %s" % e, file=sys.stderr)
        return 1
    json.dump(objects, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
