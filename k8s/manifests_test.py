#!/usr/bin/python3
"""Checks k8s/ against the code so the two cannot drift apart:

- every manifest parses (PyYAML) and kustomization.yaml lists all of them;
- the executor image carries the image seed its --image-seed names;
- every ak container runs image ak/<service>:<the binaries' --version>;
- every --flag in its args is one `ak-<service> --help` documents, and the
  binary accepts the whole argument list ($(VAR) filled in; --help appended,
  so it parses every flag and exits 0 without starting);
- the executor's --registry-auth-file is the .dockerconfigjson of a
  kubernetes.io/dockerconfigjson Secret (imagePullSecret-shaped);
- every file an arg names under a mount exists in what is mounted there:
  Secret keys as k8s/make-secrets.sh generates them, ConfigMap keys;
- every volumeMount has its volume, probes hit the --health-listen port,
  Services target a named port of the pods they select;
- Pod Security (policy_checks.py): the control plane meets "restricted",
  the executor is Guaranteed with requests = limits following its
  --capacity-* flags, every init container has resources, priority classes
  and the KVM pool's toleration are there, secrets reach pods only as
  Secret files.

The objects are what `kubectl apply -k k8s/` sends (kustomize_render.py).

Run by Bazel (//k8s:manifests_test) from the runfiles tree.
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.getcwd()
K8S = os.path.join(ROOT, "k8s")
sys.path.insert(0, K8S)
import kustomize_render  # noqa: E402
import policy_checks  # noqa: E402

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def load_all():
    docs = {}
    for name in sorted(os.listdir(K8S)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(K8S, name)) as f:
            try:
                docs[name] = [d for d in yaml.safe_load_all(f) if d is not None]
            except yaml.YAMLError as e:
                fail("%s: not YAML: %s" % (name, e))
    return docs


def version():
    """AK_VERSION, as the binaries report it."""
    out = subprocess.run([binary_of("scheduler"), "--version"], check=True, capture_output=True,
                         text=True).stdout
    return out.split()[-1]


secret_types = {}


def generated_secrets():
    """The Secrets make-secrets.sh writes: {name: set(keys)} (their types in
    secret_types)."""
    with tempfile.TemporaryDirectory(prefix="akk8s.") as d:
        out = os.path.join(d, "s")
        subprocess.run([os.path.join(K8S, "make-secrets.sh"), out, "ak"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(out, "secrets.yaml")) as f:
            docs = list(yaml.safe_load_all(f))
        for s in docs:
            secret_types[s["metadata"]["name"]] = s.get("type", "Opaque")
        return {s["metadata"]["name"]: set(s["data"]) for s in docs}


def check_registry_auth(objects):
    """The executor's --registry-auth-file is the .dockerconfigjson of an
    imagePullSecret-shaped Secret (kubernetes.io/dockerconfigjson): a docker
    config.json, the "auths" map the executor reads."""
    ds = [o for o in objects if o["kind"] == "DaemonSet" and o["metadata"]["name"] == "ak-executor"]
    if not ds:
        return fail("no ak-executor DaemonSet")
    pod = ds[0]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    paths = [a.partition("=")[2] for a in c["args"] if a.startswith("--registry-auth-file=")]
    if len(paths) != 1:
        return fail("executor.yaml: want one --registry-auth-file (registry credentials on a fleet)")
    d, f = os.path.split(paths[0])
    mount = [m for m in c.get("volumeMounts", []) if m["mountPath"].rstrip("/") == d]
    vol = [v for v in pod["volumes"] if mount and v["name"] == mount[0]["name"]]
    if not vol or "secret" not in vol[0]:
        return fail("executor.yaml: --registry-auth-file=%s is not in a mounted Secret" % paths[0])
    sec = vol[0]["secret"]
    if secret_types.get(sec["secretName"]) != "kubernetes.io/dockerconfigjson":
        fail("executor.yaml: --registry-auth-file's Secret %s is of type %s, want kubernetes.io/dockerconfigjson "
             "(an imagePullSecret)" % (sec["secretName"], secret_types.get(sec["secretName"])))
    if not any(it["key"] == ".dockerconfigjson" and it["path"] == f for it in sec.get("items", [])):
        fail("executor.yaml: --registry-auth-file=%s is not the Secret's .dockerconfigjson" % paths[0])


def help_flags(binary):
    out = subprocess.run([binary, "--help"], check=True, capture_output=True, text=True).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", out)), out


def group_read_ok(pod, container, mount_path):
    """A 0440 Secret file is readable by the pod's fsGroup and accepted by ak
    only under a directory of AK_SECRET_GROUP_DIRS (lib/base/secret_file.h)."""
    if "fsGroup" not in (pod.get("securityContext") or {}):
        return False
    if container.get("args") is None:
        return True  # a shell (the signer's init container), not an ak binary
    dirs = [e.get("value", "") for e in container.get("env", []) if e["name"] == "AK_SECRET_GROUP_DIRS"]
    return any(mount_path.rstrip("/").startswith(d.rstrip("/") + "/") for d in ":".join(dirs).split(":") if d)


def mounted_files(pod, container, secrets, configmaps):
    """{mountPath: set of file names visible there, or None for writable dirs}."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    seen = {}
    for m in container.get("volumeMounts", []):
        v = volumes.get(m["name"])
        if v is None:
            fail("%s: volumeMount %s has no volume" % (container["name"], m["name"]))
            continue
        files = None
        if "secret" in v:
            name = v["secret"]["secretName"]
            keys = secrets.get(name)
            if keys is None:
                fail("%s: Secret %s is not one make-secrets.sh makes" % (container["name"], name))
                keys = set()
            items = v["secret"].get("items")
            if items:
                for it in items:
                    if it["key"] not in keys:
                        fail("%s: Secret %s has no key %s" % (container["name"], name, it["key"]))
                files = {it["path"] for it in items}
            else:
                files = set(keys)
            mode = v["secret"].get("defaultMode", 0o644)
            if mode & 0o037:
                fail("%s: Secret %s mounted with mode %o; ak refuses token and key files that "
                     "others can read or anyone else write" % (container["name"], name, mode))
            elif mode & 0o040 and not group_read_ok(pod, container, m["mountPath"]):
                fail("%s: Secret %s mounted group-readable (mode %o) without fsGroup and "
                     "AK_SECRET_GROUP_DIRS naming %s: ak would refuse it" % (container["name"], name, mode,
                                                                           m["mountPath"]))
        elif "configMap" in v:
            name = v["configMap"]["name"]
            if name not in configmaps:
                fail("%s: ConfigMap %s is not in k8s/" % (container["name"], name))
            files = set(configmaps.get(name, {}))
        seen[m["mountPath"].rstrip("/")] = files
    return seen


def check_container(kind, pod, c, flags_of, secrets, configmaps, ver):
    image = c.get("image", "")
    m = re.fullmatch(r"ak/(scheduler|executor|signer|auditor|gateway):(.+)", image)
    if not m:
        fail("%s: image %s is not ak/<service>:VERSION" % (c["name"], image))
        return
    service, tag = m.groups()
    if tag != ver:
        fail("%s: image tag %s, but the binaries are version %s" % (c["name"], tag, ver))
    mounts = mounted_files(pod, c, secrets, configmaps)
    args = c.get("args")
    if args is None:
        return  # an init container running a shell
    known, _ = flags_of(service)
    env = {e["name"] for e in c.get("env", [])}
    for a in args:
        for var in re.findall(r"\$\(([A-Z_]+)\)", a):
            if var not in env:
                fail("%s: %s uses $(%s), which is not in env" % (c["name"], a, var))
        if not a.startswith("--"):
            fail("%s: argument %r is not a --flag" % (c["name"], a))
            continue
        flag, _, value = a.partition("=")
        if flag not in known:
            fail("%s: ak-%s --help has no %s" % (c["name"], service, flag))
        if value.startswith("/etc/ak/"):
            d, f = os.path.split(value)
            if d not in mounts:
                fail("%s: %s: nothing is mounted at %s" % (c["name"], a, d))
            elif mounts[d] is not None and f not in mounts[d]:
                fail("%s: %s: %s holds %s, not %s" % (c["name"], a, d, sorted(mounts[d]), f))
    for ip in ("10.0.0.7", "fd00::7"):  # an IPv4 and an IPv6 pod
        argv = [re.sub(r"\$\([A-Z_]+\)", ip, a) for a in args]
        r = subprocess.run([binary_of(service)] + argv + ["--help"], capture_output=True, text=True)
        if r.returncode != 0:
            fail("%s: ak-%s refuses the manifest's arguments with $(...) = %s: %s" %
                 (c["name"], service, ip, r.stderr.strip()))
    health = [a.partition("=")[2] for a in args if a.startswith("--health-listen=")]
    ports = {p["containerPort"]: p.get("name") for p in c.get("ports", [])}
    if service == "gateway":
        check_http_probes(c, args, ports)
        return
    for probe in ("readinessProbe", "livenessProbe"):
        p = c.get(probe)
        if not p:
            fail("%s: no %s" % (c["name"], probe))
            continue
        if "grpc" not in p:
            fail("%s: %s is not a gRPC probe" % (c["name"], probe))
            continue
        port = p["grpc"]["port"]
        if port not in ports:
            fail("%s: %s port %s is not a containerPort" % (c["name"], probe, port))
        if not health or not health[0].endswith(":%d" % port):
            fail("%s: %s probes port %s but --health-listen is %s" % (c["name"], probe, port, health))


def check_http_probes(c, args, ports):
    """ak-gateway speaks HTTP(S), not gRPC: its probes GET /health on the
    --listen port, over HTTPS when it serves TLS (--tls-cert)."""
    listen = [a.partition("=")[2] for a in args if a.startswith("--listen=")]
    tls = any(a.startswith("--tls-cert=") for a in args)
    for probe in ("readinessProbe", "livenessProbe"):
        p = c.get(probe)
        if not p or "httpGet" not in p:
            fail("%s: %s is not an httpGet probe" % (c["name"], probe))
            continue
        g = p["httpGet"]
        if g.get("path") != "/health":
            fail("%s: %s path %s, want /health" % (c["name"], probe, g.get("path")))
        if g.get("port") not in ports:
            fail("%s: %s port %s is not a containerPort" % (c["name"], probe, g.get("port")))
        if not listen or not listen[0].endswith(":%s" % g.get("port")):
            fail("%s: %s probes port %s but --listen is %s" % (c["name"], probe, g.get("port"), listen))
        if (g.get("scheme", "HTTP") == "HTTPS") != tls:
            fail("%s: %s scheme %s, but TLS is %s" % (c["name"], probe, g.get("scheme", "HTTP"),
                                                      "on" if tls else "off"))


def binary_of(service):
    return os.path.join(ROOT, "services", service, "ak-" + service)


def check_image_seed(objects):
    """The executor starts with --image-seed DIR, and build-images.sh makes
    the seed with `ak image export-seed $seed_dir` and copies $seed_dir into
    the executor image: no node fetches the kernel from the Debian archive."""
    with open(os.path.join(K8S, "build-images.sh")) as f:
        script = f.read()
    seed = re.search(r"^seed_dir=(\S+)$", script, flags=re.M)
    made = re.search(r"ak image export-seed \$seed_dir", script)
    copied = re.search(r'buildah copy --from "\$s" "\$e" "\$seed_dir" "\$seed_dir"', script)
    args = [a for o in objects if o["kind"] == "DaemonSet" for c in o["spec"]["template"]["spec"]["containers"]
            for a in c.get("args", []) if a.startswith("--image-seed")]
    if not seed or not made or not copied:
        fail("build-images.sh: the executor image does not copy what ak image export-seed makes")
    elif args != ["--image-seed=" + seed.group(1)]:
        fail("executor.yaml: want --image-seed=%s (where build-images.sh puts the seed), have %s" %
             (seed.group(1), args))


def check_policy_checks_refuse(objects, overhead):
    """The policy checks are tested too: each broken copy must be named."""
    import copy

    def pod(objs, name):
        return [o for o in objs if o["metadata"]["name"] == name and "template" in o.get("spec", {})][0][
            "spec"]["template"]["spec"]
    cases = [
        ("runAsUser 0", "runAsUser", lambda o: pod(o, "ak-scheduler")["securityContext"].__setitem__("runAsUser", 0)),
        ("no seccomp", "seccompProfile", lambda o: pod(o, "ak-gateway")["securityContext"].pop("seccompProfile")),
        ("a capability kept", "drop ALL",
         lambda o: pod(o, "ak-auditor")["containers"][0]["securityContext"]["capabilities"].__setitem__("drop", [])),
        ("a hostPath", "volume", lambda o: pod(o, "ak-signer")["volumes"].append({"name": "h", "hostPath": {"path": "/"}})),
        ("a Burstable executor", "Guaranteed",
         lambda o: pod(o, "ak-executor")["containers"][0]["resources"]["requests"].__setitem__("cpu", "1")),
        ("executor figures off its flags", "--capacity-vcpus",
         lambda o: pod(o, "ak-executor")["containers"][0]["args"].__setitem__(
             [i for i, a in enumerate(pod(o, "ak-executor")["containers"][0]["args"])
              if a.startswith("--capacity-vcpus=")][0], "--capacity-vcpus=16")),
        ("no toleration", "toleration", lambda o: pod(o, "ak-executor").__setitem__("tolerations", [])),
        ("an executor in the pod's network namespace", "hostNetwork must be true",
         lambda o: pod(o, "ak-executor").pop("hostNetwork")),
        ("hostNetwork without its DNS policy", "ClusterFirstWithHostNet",
         lambda o: pod(o, "ak-executor").pop("dnsPolicy")),
        ("metrics on every node address", "--metrics-listen",
         lambda o: pod(o, "ak-executor")["containers"][0]["args"].__setitem__(
             [i for i, a in enumerate(pod(o, "ak-executor")["containers"][0]["args"])
              if a.startswith("--metrics-listen=")][0], "--metrics-listen=0.0.0.0:7470")),
        ("an init container without resources", "init container",
         lambda o: pod(o, "ak-signer")["initContainers"][0].pop("resources")),
        ("a token in the args", "credential",
         lambda o: pod(o, "ak-gateway")["containers"][0]["args"].append("--x=" + "ab" * 32)),
    ]
    for what, want, edit in cases:
        objs = copy.deepcopy(objects)
        edit(objs)
        msgs = policy_checks.check(objs, overhead)
        if not any(want in m for m in msgs):
            fail("policy_checks did not notice %s (want a message with %r): %s" % (what, want, msgs))


def main():
    docs = load_all()
    ver = version()
    with open(os.path.join(K8S, "kustomization.yaml")) as f:
        listed = set(yaml.safe_load(f)["resources"])
    for name in docs:
        if name != "kustomization.yaml" and name not in listed:
            fail("kustomization.yaml does not list %s" % name)
    for name in listed:
        if name not in docs:
            fail("kustomization.yaml lists %s, which is not in k8s/" % name)

    try:
        objects = kustomize_render.render(K8S)
    except kustomize_render.RenderError as e:
        fail("kustomization.yaml: %s" % e)
        objects = []
    secrets = generated_secrets()
    configmaps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
    cache = {}

    def flags_of(service):
        if service not in cache:
            cache[service] = help_flags(binary_of(service))
        return cache[service]

    pods = {}
    workloads = 0
    for o in objects:
        if o["kind"] not in ("Deployment", "DaemonSet"):
            continue
        workloads += 1
        tmpl = o["spec"]["template"]
        if tmpl["metadata"]["labels"] != {**tmpl["metadata"]["labels"], **o["spec"]["selector"]["matchLabels"]}:
            fail("%s: the selector does not match the pod labels" % o["metadata"]["name"])
        pod = tmpl["spec"]
        pods[o["metadata"]["name"]] = (tmpl["metadata"]["labels"], pod)
        for c in pod.get("initContainers", []) + pod["containers"]:
            check_container(o["kind"], pod, c, flags_of, secrets, configmaps, ver)
    check_image_seed(objects)
    check_registry_auth(objects)
    with open(os.path.join(ROOT, "services", "executor", "capacity.h")) as f:
        overhead = int(re.search(r"#define CAPACITY_VMM_OVERHEAD_KVM_MB (\d+)", f.read()).group(1))
    for msg in policy_checks.check(objects, overhead):
        fail(msg)
    check_policy_checks_refuse(objects, overhead)
    if workloads != 5:
        fail("expected 5 workloads (scheduler, executor, signer, auditor, gateway), found %d" % workloads)

    for o in objects:
        if o["kind"] != "Service":
            continue
        sel = o["spec"]["selector"]
        match = [p for labels, p in pods.values() if all(labels.get(k) == v for k, v in sel.items())]
        if not match:
            fail("Service %s selects no pod" % o["metadata"]["name"])
            continue
        names = {p.get("name") for c in match[0]["containers"] for p in c.get("ports", [])}
        for p in o["spec"]["ports"]:
            if p["targetPort"] not in names:
                fail("Service %s: targetPort %s is no port of its pods" % (o["metadata"]["name"], p["targetPort"]))

    if failures:
        print("%d problem(s)" % len(failures), file=sys.stderr)
        return 1
    print("k8s manifests: %d objects, %d workloads, flags match the binaries" % (len(objects), workloads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
