#!/usr/bin/python3
"""The manifests' security wiring, run for real without a cluster.

make-secrets.sh makes the Secrets; each Secret is laid out as Kubernetes
would mount it (one 0400 file per key); ak-scheduler and ak-executor start
with the exact arguments of scheduler.yaml and executor.yaml, their mounted
paths pointed at those files and their network addresses at Unix sockets.
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


def materialize(d):
    """Secrets as mounted files: d/secrets/<name>/<key>, mode 0400."""
    out = os.path.join(d, "gen")
    subprocess.run([os.path.join(K8S, "make-secrets.sh"), out, "ak"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(out, "secrets.yaml")) as f:
        for s in yaml.safe_load_all(f):
            sd = os.path.join(d, "secrets", s["metadata"]["name"])
            os.makedirs(sd, mode=0o700)
            for k, v in s["data"].items():
                p = os.path.join(sd, k)
                with open(p, "wb") as o:
                    o.write(base64.b64decode(v))
                os.chmod(p, 0o400)
    return out


def mount_map(d, pod, container):
    """{mountPath/file: host path} for the container's Secret mounts."""
    vols = {v["name"]: v for v in pod["volumes"]}
    files = {}
    for m in container["volumeMounts"]:
        v = vols[m["name"]]
        if "secret" not in v:
            continue
        sd = os.path.join(d, "secrets", v["secret"]["secretName"])
        items = v["secret"].get("items") or [{"key": k, "path": k} for k in os.listdir(sd)]
        for it in items:
            files[m["mountPath"].rstrip("/") + "/" + it["path"]] = os.path.join(sd, it["key"])
    return files


def args_of(d, name, rewrite):
    pod = pod_of(name)
    c = pod["containers"][0]
    files = mount_map(d, pod, c)
    out = []
    for a in c["args"]:
        flag, _, value = a.partition("=")
        r = rewrite.get(flag, value)
        if r is None:
            continue
        value = files.get(r, r)
        out.append(flag + "=" + value if _ else flag)
    return out


def start(d, name, argv):
    log = open(os.path.join(d, name + ".log"), "w")
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), os.path.join(d, name + ".log")


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
    gw = [os.path.join(ROOT, "services/gateway/ak-gateway")] + args_of(d, "gateway.yaml", {
        "--listen": "127.0.0.1:0", "--scheduler": s_sock,
        "--metrics-listen": "127.0.0.1:0",  # the pods' 7470 may be taken here
    })
    p, glog = start(d, "gateway", gw)
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


def main():
    d = tempfile.mkdtemp(prefix="akw.", dir="/tmp")
    procs = []
    try:
        gen = materialize(d)
        s_sock, e_sock = "unix:" + d + "/s.sock", "unix:" + d + "/e.sock"
        sched = [os.path.join(ROOT, "services/scheduler/ak-scheduler")] + args_of(d, "scheduler.yaml", {
            "--listen": s_sock, "--health-listen": "unix:" + d + "/sh.sock",
            "--metrics-listen": "127.0.0.1:0",  # the pods' 7470 may be taken here
            "--heartbeat-interval-ms": "200",
            # One replica and no API server here: scheduler_lease_test covers the Lease.
            "--leader-elect": None, "--lease-name": None, "--lease-duration-s": None,
        })
        exe = [os.path.join(ROOT, "services/executor/ak-executor")] + args_of(d, "executor.yaml", {
            "--listen": e_sock, "--advertise": e_sock, "--health-listen": "unix:" + d + "/eh.sock",
            "--metrics-listen": "127.0.0.1:0",
            "--executor-id": "node-1", "--label": "node=node-1", "--state-dir": d + "/st",
            "--accel": None, "--min-warm": "0", "--scheduler": s_sock,
            "--signer": None, "--auditor": None, "--signer-token-file": None, "--auditor-token-file": None,
            # The image puts the seed there (manifests_test checks the two agree); a test guest boots nothing.
            "--image-seed": None,
        }) + ["--test-guest=t1=" + d + "/no-guest.sock"]
        p, slog = start(d, "scheduler", sched)
        procs.append(p)
        p, elog = start(d, "executor", exe)
        procs.append(p)
        logs = [slog, elog]

        def has(path, text):
            with open(path) as f:
                return text in f.read()
        wait_for(lambda: has(slog, "executor node-1 registered"),
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
        pod = pod_of("executor.yaml")
        c = pod["containers"][0]
        files = mount_map(d, pod, c)
        pre = [os.path.join(ROOT, "services/executor/ak-executor")]
        for a in c["lifecycle"]["preStop"]["exec"]["command"][1:]:
            flag, _, value = a.partition("=")
            pre.append(flag + "=" + (e_sock if flag == "--drain" else files.get(value, value)))
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
        print("k8s wiring: the executor registered over mTLS with its token; ak reached the scheduler and, "
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
