#!/usr/bin/python3
"""The manifests' security wiring, run for real without a cluster.

make-secrets.sh makes the Secrets; each pod's Secret volumes are laid out
as the kubelet would mount them under a directory standing for the pod's
root (/etc/ak/... -> POD/etc/ak/...): defaultMode, and with the pod's
fsGroup root:<fsGroup> and the group read bit. ak-scheduler, ak-gateway and
ak-executor start with the exact arguments and env of scheduler.yaml,
gateway.yaml and executor.yaml, as the user, group and fsGroup their pod's
securityContext names (the control plane as uid 65532, not root; the
executor as root), paths under /etc/ak pointed into that directory and
network addresses at Unix sockets. A world-readable token is refused.
Then: the executor registers (its certificate as a client, the
executor-to-scheduler token), `ak` reaches the scheduler with the client
certificate and token, and a call about a sandbox is forwarded to the
executor (the scheduler's certificate as a client, --executor-tls-name,
the executor token). A certificate or token wired wrongly fails here.
Left out: the signer's and auditor's addresses (their certificates name
only cluster DNS names) and the executor's VMs (--min-warm 0, a test guest).
"""
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.getcwd()
K8S = os.path.join(ROOT, "k8s")


def pod_of(name):
    with open(os.path.join(K8S, name)) as f:
        for d in yaml.safe_load_all(f):
            if d and d["kind"] in ("Deployment", "DaemonSet"):
                return d["spec"]["template"]["spec"]
    raise SystemExit("no workload in " + name)


SECRETS = {}  # name: {key: bytes}, what make-secrets.sh made


def materialize(d):
    """make-secrets.sh's Secrets, kept for the pods' mounts."""
    out = os.path.join(d, "gen")
    subprocess.run([os.path.join(K8S, "make-secrets.sh"), out, "ak"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(out, "secrets.yaml")) as f:
        for s in yaml.safe_load_all(f):
            SECRETS[s["metadata"]["name"]] = {k: base64.b64decode(v) for k, v in s["data"].items()}
    return out


class Pod:
    """One pod's identity and its root: Secret volumes as the kubelet mounts
    them (defaultMode; with fsGroup, root:<fsGroup> and g+r, dirs g+x)."""

    def __init__(self, d, name):
        self.spec = pod_of(name)
        self.c = self.spec["containers"][0]
        psc = self.spec.get("securityContext") or {}
        self.uid = psc.get("runAsUser", 0)
        self.gid = psc.get("runAsGroup", self.uid)
        self.fs_group = psc.get("fsGroup")
        self.root = os.path.join(d, "pods", name.split(".")[0])
        os.makedirs(self.root, mode=0o755)
        vols = {v["name"]: v for v in self.spec["volumes"]}
        for m in self.c["volumeMounts"]:
            v = vols[m["name"]]
            if "secret" in v:
                self.mount_secret(m["mountPath"], v["secret"])

    def mount_secret(self, mount_path, sec):
        data = SECRETS[sec["secretName"]]
        mdir = self.root + mount_path.rstrip("/")
        os.makedirs(mdir, mode=0o755)
        mode = sec.get("defaultMode", 0o644)
        if self.fs_group is not None:
            os.chown(mdir, 0, self.fs_group)
            os.chmod(mdir, 0o2750)
            mode |= 0o440
        else:
            os.chmod(mdir, 0o700)
        for it in sec.get("items") or [{"key": k, "path": k} for k in data]:
            p = os.path.join(mdir, it["path"])
            with open(p, "wb") as o:
                o.write(data[it["key"]])
            os.chown(p, 0, self.fs_group if self.fs_group is not None else 0)
            os.chmod(p, mode)

    def path(self, value):
        """A path inside the container as the host sees it."""
        return self.root + value if value.startswith("/etc/ak") else value

    def args(self, rewrite):
        out = []
        for a in self.c["args"]:
            flag, eq, value = a.partition("=")
            r = rewrite.get(flag, value)
            if r is None:
                continue
            out.append(flag + "=" + self.path(r) if eq else flag)
        return out

    def env(self):
        """The container's literal env, paths into the pod's root; values
        from the downward API are left to the rewritten args."""
        e = dict(os.environ)
        for v in self.c.get("env", []):
            if "value" in v:
                e[v["name"]] = ":".join(self.path(p) for p in v["value"].split(":"))
        return e

    def popen(self, argv, log):
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env(), cwd=self.root,
                                user=self.uid, group=self.gid,
                                extra_groups=[self.fs_group] if self.fs_group is not None else [])


def install_binaries(d):
    """The binaries where a non-root user can run them (Bazel's tree is
    under root's 0700 home)."""
    b = os.path.join(d, "bin")
    os.makedirs(b, mode=0o755)
    for s in ("scheduler", "executor", "gateway"):
        shutil.copy(os.path.join(ROOT, "services", s, "ak-" + s), os.path.join(b, "ak-" + s))
        os.chmod(os.path.join(b, "ak-" + s), 0o755)
    return b


def start(d, name, pod, argv):
    log = open(os.path.join(d, name + ".log"), "w")
    return pod.popen(argv, log), os.path.join(d, name + ".log")


def check_uid(p, pod, name):
    with open("/proc/%d/status" % p.pid) as f:
        uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
    if any(int(u) != pod.uid for u in uids):
        raise SystemExit("FAIL: %s runs as uid %s, its manifest says %d" % (name, uids, pod.uid))


def wait_for(cond, what, logs, secs=30):
    end = time.time() + secs
    while time.time() < end:
        if cond():
            return
        time.sleep(0.1)
    for l in logs:
        print("--- " + l, file=sys.stderr)
        with open(l) as f:
            print(f.read(), file=sys.stderr)
    raise SystemExit("FAIL: " + what)


def check_gateway(d, gen, s_sock, procs, logs):
    """ak-gateway as gateway.yaml runs it: HTTPS with ak-tls-gateway (curl
    verifies it against the fleet CA, by its Service name), the scheduler over
    mTLS with its admin token, the API key of ak-gateway-api-keys."""
    pod = Pod(d, "gateway.yaml")
    gw = [os.path.join(d, "bin", "ak-gateway")] + pod.args({
        "--listen": "127.0.0.1:0", "--scheduler": s_sock,
        "--metrics-listen": "127.0.0.1:0",  # the pods' 7470 may be taken here
    })
    p, glog = start(d, "gateway", pod, gw)
    procs.append(p)
    logs.append(glog)
    port = []

    def listening():
        with open(glog) as f:
            for line in f:
                if "listening on 127.0.0.1:" in line:
                    port.append(line.split("127.0.0.1:")[1].split()[0])
                    return True
        return False
    wait_for(listening, "ak-gateway did not start", logs)
    check_uid(p, pod, "ak-gateway")
    with open(gen + "/gateway-client.token") as f:
        key = f.read().strip()

    def get(path, k):
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", gen + "/ca.crt", "--resolve",
                            "ak-gateway:%s:127.0.0.1" % port[0], "-H", "Authorization: Bearer " + k,
                            "-w", " %{http_code}", "https://ak-gateway:%s%s" % (port[0], path)],
                           capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr
    rc, out = get("/sandboxes/t1", key)
    if rc != 0 or not out.endswith(" 200") or '"name":"t1"' not in out:
        wait_for(lambda: False, "GET /sandboxes/t1 through ak-gateway: curl %d: %s" % (rc, out), logs, secs=0)
    rc, out = get("/sandboxes", "0" * 64)
    if not out.endswith(" 401"):
        raise SystemExit("FAIL: ak-gateway with a wrong API key: %s" % out)


def check_refuses_world_readable(d, pod, argv):
    """The same scheduler with its token file readable by all: refused."""
    tok = [a.partition("=")[2] for a in argv if a.startswith("--token-file=")][0]
    os.chmod(tok, 0o444)
    try:
        log = open(os.path.join(d, "refused.log"), "w+")
        p = pod.popen(argv, log)
        rc = p.wait(timeout=30)
        log.seek(0)
        out = log.read()
    finally:
        os.chmod(tok, 0o440)
    if rc == 0 or "accessible by group or others (mode 0444)" not in out:
        raise SystemExit("FAIL: ak-scheduler accepted a world-readable token file: %d %s" % (rc, out))


def main():
    d = tempfile.mkdtemp(prefix="akw.", dir="/tmp")
    os.chmod(d, 0o711)
    procs = []
    try:
        gen = materialize(d)
        install_binaries(d)
        sp, ep = Pod(d, "scheduler.yaml"), Pod(d, "executor.yaml")
        run = os.path.join(d, "run")  # the control plane's sockets: theirs to create
        os.makedirs(run, mode=0o755)
        os.chown(run, sp.uid, sp.gid)
        s_sock, e_sock = "unix:" + run + "/s.sock", "unix:" + d + "/e.sock"
        sched = [os.path.join(d, "bin", "ak-scheduler")] + sp.args({
            "--listen": s_sock, "--health-listen": "unix:" + run + "/sh.sock",
            "--metrics-listen": "127.0.0.1:0",  # the pods' 7470 may be taken here
            "--heartbeat-interval-ms": "200",
            # One replica and no API server here: scheduler_lease_test covers the Lease.
            "--leader-elect": None, "--lease-name": None, "--lease-duration-s": None,
        })
        exe = [os.path.join(d, "bin", "ak-executor")] + ep.args({
            "--listen": e_sock, "--advertise": e_sock, "--health-listen": "unix:" + d + "/eh.sock",
            "--metrics-listen": "127.0.0.1:0",
            "--executor-id": "node-1", "--label": "node=node-1", "--state-dir": d + "/st",
            "--accel": None, "--min-warm": "0", "--scheduler": s_sock,
            "--signer": None, "--auditor": None, "--signer-token-file": None, "--auditor-token-file": None,
            # The image puts the seed there (manifests_test checks the two agree); a test guest boots nothing.
            "--image-seed": None,
            # No VMs here (a test guest), so no supervisors and no node cgroup.
            "--vm-supervisors": None, "--vm-cgroup": None,
        }) + ["--test-guest=t1=" + d + "/no-guest.sock"]
        check_refuses_world_readable(d, sp, sched)
        p, slog = start(d, "scheduler", sp, sched)
        procs.append(p)
        p, elog = start(d, "executor", ep, exe)
        procs.append(p)
        logs = [slog, elog]
        check_uid(procs[0], sp, "ak-scheduler")
        # In the cluster the scheduler reaches the executor over TCP at its
        # pod IP (mTLS + token); here over a Unix socket, which root's
        # executor made private: open it to the scheduler's uid as the pod
        # network would be.
        wait_for(lambda: os.path.exists(e_sock[5:]), "the executor did not listen", logs)
        os.chmod(e_sock[5:], 0o666)
        if sp.uid == 0:
            raise SystemExit("FAIL: scheduler.yaml runs ak-scheduler as root")

        def has(path, text):
            with open(path) as f:
                return text in f.read()
        wait_for(lambda: has(slog, "executor registered executor=node-1 "),
                 "the executor did not register with the scheduler", logs)

        env = dict(os.environ, AK_HOME=d + "/home", AK_SCHEDULER=s_sock, AK_TLS_CA=gen + "/ca.crt",
                   AK_TLS_CERT=gen + "/client.crt", AK_TLS_KEY=gen + "/client.key")
        with open(gen + "/client.token") as f:
            env["AK_TOKEN"] = f.read().strip()
        ak = os.path.join(ROOT, "cli/ak")
        # Forwarded to the executor: its test guest answers GetSandbox.
        wait_for(lambda: subprocess.run([ak, "sandbox", "info", "t1"], env=env, capture_output=True).returncode == 0,
                 "ak sandbox info t1 (scheduler -> executor over mTLS with the executor token) failed: " +
                 subprocess.run([ak, "sandbox", "info", "t1"], env=env, capture_output=True, text=True).stderr,
                 logs, secs=15)
        bad = dict(env, AK_TOKEN="0" * 64)
        r = subprocess.run([ak, "sandbox", "list"], env=bad, capture_output=True, text=True)
        if r.returncode == 0 or "UNAUTHENTICATED" not in r.stderr:
            raise SystemExit("FAIL: a wrong client token: %d %s" % (r.returncode, r.stderr))
        check_gateway(d, gen, s_sock, procs, logs)
        # The preStop hook, as written, drains the executor over mTLS with
        # its own token and client certificate.
        pre = [os.path.join(d, "bin", "ak-executor")]
        for a in ep.c["lifecycle"]["preStop"]["exec"]["command"][1:]:
            flag, _, value = a.partition("=")
            pre.append(flag + "=" + (e_sock if flag == "--drain" else ep.path(value)))
        r = subprocess.run(pre, capture_output=True, text=True, timeout=120)
        if r.returncode != 0 or "drained: yes" not in r.stdout or "  t1\n" not in r.stdout:
            raise SystemExit("FAIL: the preStop drain: %d %s %s" % (r.returncode, r.stdout, r.stderr))
        # The scheduler hears it from the next heartbeat and places nothing there.
        def refused():
            r = subprocess.run([ak, "sandbox", "create", "after-drain"], env=env, capture_output=True, text=True)
            return r.returncode != 0 and "draining" in r.stderr
        wait_for(refused, "a create after the drain did not fail naming the drain: " +
                 subprocess.run([ak, "sandbox", "create", "after-drain"], env=env, capture_output=True,
                                text=True).stderr, logs, secs=10)
        print("k8s wiring: ak-scheduler and ak-gateway ran as uid %d with the Secrets as their pods mount them "
              "(a world-readable token refused); " % sp.uid +
              "the executor registered over mTLS with its token; ak reached the scheduler and, "
              "through it, the executor; ak-gateway served HTTPS with its certificate and reached the "
              "executor's sandbox for its API key's tenant; the preStop hook drained it")
        return 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
