"""Policy checks on the rendered objects (manifests_test.py runs them):

- Pod Security "restricted" (kubernetes.io/docs/concepts/security/
  pod-security-standards, v1.30) for every pod but the executor: no host
  namespaces, ports or hostPath, only the allowed volume types, not
  privileged, allowPrivilegeEscalation false, runAsNonRoot with a fixed
  non-zero uid, seccomp RuntimeDefault or Localhost, capabilities drop ALL
  (add at most NET_BIND_SERVICE); ours on top: readOnlyRootFilesystem;
- the namespace's Pod Security labels: enforce privileged only because of
  the executor, warn and audit restricted;
- the executor: QoS Guaranteed (cpu and memory requests = limits on every
  container) with the figures executor.yaml's comment derives from
  --capacity-vcpus, --capacity-memory-mb and --max-warm; the toleration of
  its nodeSelector's key (a tainted KVM pool); in the node's network
  namespace (hostNetwork: a networked sandbox's host end outlives the pod)
  with dnsPolicy ClusterFirstWithHostNet (else the Services' short names do
  not resolve), its plaintext listeners (health, metrics) on the pod's
  address, not on every address of the node;
- every init container has resources, every pod a priorityClassName that
  is one of the PriorityClass objects;
- no credential in an arg or an env literal, the auditor's config carries
  no webhook authorization (it is --webhook-token-file, a Secret).
"""
import re

RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
PSS_LEVELS = {"privileged", "baseline", "restricted"}


def quantity(q):
    """A CPU or memory quantity as a number (cores or bytes)."""
    m = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?", str(q))
    if not m:
        raise ValueError("quantity %r" % q)
    mult = {None: 1, "m": 0.001, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 1e3,
            "M": 1e6, "G": 1e9, "T": 1e12}[m.group(2)]
    return float(m.group(1)) * mult


def flag(args, name):
    v = [a.partition("=")[2] for a in args if a.startswith(name + "=")]
    return v[0] if v else None


def restricted(where, pod, out):
    psc = pod.get("securityContext") or {}
    for k in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(k):
            out.append("%s: %s (restricted forbids host namespaces)" % (where, k))
    for v in pod.get("volumes", []):
        kinds = set(v) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            out.append("%s: volume %s is %s (restricted allows %s)" % (where, v["name"], sorted(kinds),
                                                                      sorted(RESTRICTED_VOLUMES)))
    if psc.get("runAsUser") == 0:
        out.append("%s: pod runAsUser 0" % where)
    for c in pod.get("initContainers", []) + pod["containers"]:
        cw = "%s/%s" % (where, c["name"])
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.append("%s: privileged" % cw)
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append("%s: allowPrivilegeEscalation must be false" % cw)
        if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
            out.append("%s: runAsNonRoot must be true" % cw)
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if not isinstance(uid, int) or uid == 0:
            out.append("%s: want a fixed non-root runAsUser, have %r" % (cw, uid))
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append("%s: seccompProfile %r, want RuntimeDefault" % (cw, seccomp))
        caps = sc.get("capabilities") or {}
        if caps.get("drop") != ["ALL"]:
            out.append("%s: capabilities must drop ALL" % cw)
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            out.append("%s: adds capabilities %s" % (cw, caps["add"]))
        if not sc.get("readOnlyRootFilesystem"):
            out.append("%s: readOnlyRootFilesystem is not set" % cw)
        for p in c.get("ports", []):
            if p.get("hostPort"):
                out.append("%s: hostPort %s" % (cw, p["hostPort"]))


def executor_guaranteed(where, pod, overhead_mb, out):
    for c in pod.get("initContainers", []) + pod["containers"]:
        r = c.get("resources") or {}
        for res in ("cpu", "memory"):
            req, lim = (r.get("requests") or {}).get(res), (r.get("limits") or {}).get(res)
            if req is None or lim is None or quantity(req) != quantity(lim):
                out.append("%s/%s: %s requests %s, limits %s: QoS Guaranteed needs both, equal" %
                           (where, c["name"], res, req, lim))
    c = pod["containers"][0]
    args = c.get("args", [])
    vcpus, mem, warm = flag(args, "--capacity-vcpus"), flag(args, "--capacity-memory-mb"), flag(args, "--max-warm")
    if None in (vcpus, mem, warm):
        out.append("%s: --capacity-vcpus, --capacity-memory-mb and --max-warm must be explicit (the "
                   "resources follow them)" % where)
        return
    want_cpu = int(vcpus) + 1
    want_mem = (int(mem) + overhead_mb * (int(vcpus) + int(warm)) + 512) << 20
    lim = (c.get("resources") or {}).get("limits") or {}
    if quantity(lim.get("cpu", 0)) != want_cpu:
        out.append("%s: cpu %s, but --capacity-vcpus %s + 1 = %d" % (where, lim.get("cpu"), vcpus, want_cpu))
    if quantity(lim.get("memory", 0)) != want_mem:
        out.append("%s: memory %s, but %s + %d * (%s + %s) + 512 = %d Mi" %
                   (where, lim.get("memory"), mem, overhead_mb, vcpus, warm, want_mem >> 20))
    keys = set((pod.get("nodeSelector") or {}))
    tolerated = {(t.get("key"), t.get("effect")) for t in pod.get("tolerations", []) if t.get("operator") == "Exists"}
    for k in keys:
        if (k, "NoSchedule") not in tolerated:
            out.append("%s: no toleration of %s:NoSchedule, the taint of a dedicated KVM pool" % (where, k))


def executor_host_network(where, pod, out):
    if pod.get("hostNetwork") is not True:
        out.append("%s: hostNetwork must be true: a sandbox's network host end (akv<N>) lives in the "
                   "executor's network namespace, and a pod's own dies with the pod (an upgrade)" % where)
        return
    if pod.get("dnsPolicy") != "ClusterFirstWithHostNet":
        out.append("%s: dnsPolicy %r with hostNetwork: want ClusterFirstWithHostNet (the Services' names)" %
                   (where, pod.get("dnsPolicy")))
    args = pod["containers"][0].get("args", [])
    for name in ("--health-listen", "--metrics-listen"):
        v = flag(args, name)
        if v is None or not v.startswith("$(POD_IP):"):
            out.append("%s: %s=%s: with hostNetwork a plaintext listener goes on $(POD_IP), not on every "
                       "address of the node" % (where, name, v))


def namespace_labels(objects, out):
    for ns in (o for o in objects if o["kind"] == "Namespace"):
        labels = ns["metadata"].get("labels") or {}
        want = {"pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/audit": "restricted"}
        for k, v in want.items():
            if labels.get(k) != v:
                out.append("Namespace %s: label %s=%s, want %s" % (ns["metadata"]["name"], k, labels.get(k), v))
        for k, v in labels.items():
            if k.startswith("pod-security.kubernetes.io/") and not k.endswith("-version") and v not in PSS_LEVELS:
                out.append("Namespace %s: %s=%s is no Pod Security level" % (ns["metadata"]["name"], k, v))


def no_literal_secrets(where, pod, out):
    for c in pod.get("initContainers", []) + pod["containers"]:
        for a in c.get("args", []) + [e.get("value", "") for e in c.get("env", [])]:
            if re.search(r"(?i)(bearer\s|token=|password=|authorization)", str(a)) or \
                    re.search(r"=[0-9a-f]{32,}$", str(a)):
                out.append("%s/%s: %r looks like a credential in the manifest; use a Secret file" %
                           (where, c["name"], a))


def check(objects, overhead_mb):
    """The problems found, as messages."""
    out = []
    namespace_labels(objects, out)
    classes = {o["metadata"]["name"] for o in objects if o["kind"] == "PriorityClass"}
    for o in objects:
        if o["kind"] == "ConfigMap" and "authorization" in str(o.get("data", {})).lower():
            out.append("ConfigMap %s carries an authorization: the webhook token goes in the Secret "
                       "ak-auditor-webhook (--webhook-token-file)" % o["metadata"]["name"])
        if o["kind"] not in ("Deployment", "DaemonSet"):
            continue
        where = "%s %s" % (o["kind"], o["metadata"]["name"])
        pod = o["spec"]["template"]["spec"]
        if pod.get("priorityClassName") not in classes:
            out.append("%s: priorityClassName %r is not one of %s" % (where, pod.get("priorityClassName"),
                                                                     sorted(classes)))
        for c in pod.get("initContainers", []):
            r = c.get("resources") or {}
            if not r.get("requests") or not r.get("limits"):
                out.append("%s/%s: an init container without requests and limits" % (where, c["name"]))
        no_literal_secrets(where, pod, out)
        if o["metadata"]["name"] == "ak-executor":
            executor_guaranteed(where, pod, overhead_mb, out)
            executor_host_network(where, pod, out)
        else:
            restricted(where, pod, out)
    return out
