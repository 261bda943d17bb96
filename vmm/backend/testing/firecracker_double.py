#!/usr/bin/python3
"""A test double of the `firecracker` binary: its API on a Unix socket, as
src/firecracker/swagger/firecracker.yaml and docs/api_requests/ describe it,
for the requests ak's backend makes (machine-config, boot-source, drives,
network-interfaces, vsock, actions, GET /), and its hybrid vsock.

  firecracker_double.py --api-sock PATH

Faithful where ak depends on it: bodies are checked against the swagger
schema (required fields, types, unknown fields refused as serde's
deny_unknown_fields does), answers are 204, or 400 with
{"fault_message": ...} worded as Firecracker words them; configuration is
pre-boot only and SendCtrlAltDel post-boot only; InstanceStart needs a boot
source whose kernel is an ELF image (x86_64 boots vmlinux).

PUT /network-interfaces opens host_dev_name as Firecracker does (TUNSETIFF,
see open_tap) in the double's own network namespace and with its own
credentials, and keeps it open; ak's backend starts the double inside the
VM's namespace without CAP_NET_ADMIN, so a tap that is not there, or not
ours, is refused as Firecracker refuses it. No frames move: there is no
guest.

After InstanceStart the vsock's uds_path listens: each connection sends
"CONNECT <port>\\n"; for port 52000 the double connects to a guest agent it
started on the host ($AK_FC_DOUBLE_GUEST: an ak-guest binary, run as
`ak-guest --listen unix:<dir of uds_path>/double-guest.sock`), answers
"OK <host port>\\n" and splices bytes both ways; otherwise it closes the
connection, as Firecracker does when nothing listens in the guest.

Environment:
  AK_FC_DOUBLE_LOG    append one JSON line per request (and one for argv)
  AK_FC_DOUBLE_GUEST  the guest agent binary (none: nothing listens)
  AK_FC_DOUBLE_CAD    "exit": SendCtrlAltDel makes the "guest" power off and
                      the double exit 0, as Firecracker does on the guest's
                      reset; otherwise it is ignored (a guest without i8042)
"""
import ctypes
import fcntl
import http.server
import json
import os
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time

AGENT_PORT = 52000
POST_BOOT = "The requested operation is not supported after starting the microVM."
PRE_BOOT = "The requested operation is not supported before starting the microVM."

# The swagger definitions the double serves: field -> (type, required).
SCHEMAS = {
    "MachineConfiguration": {
        "vcpu_count": ("u8", True), "mem_size_mib": ("usize", True), "smt": ("bool", False),
        "track_dirty_pages": ("bool", False), "cpu_template": ("string", False),
        "huge_pages": ("string", False),
    },
    "BootSource": {
        "kernel_image_path": ("string", True), "initrd_path": ("string", False),
        "boot_args": ("string", False),
    },
    "Drive": {
        "drive_id": ("string", True), "is_root_device": ("bool", True), "partuuid": ("string", False),
        "cache_type": ("string", False), "is_read_only": ("bool", False), "path_on_host": ("string", False),
        "rate_limiter": ("object", False), "io_engine": ("string", False), "socket": ("string", False),
    },
    "NetworkInterface": {
        "iface_id": ("string", True), "host_dev_name": ("string", True), "guest_mac": ("string", False),
        "mtu": ("u16", False), "rx_rate_limiter": ("object", False), "tx_rate_limiter": ("object", False),
    },
    "Vsock": {"guest_cid": ("u32", True), "uds_path": ("string", True), "vsock_id": ("string", False)},
    "InstanceActionInfo": {"action_type": ("string", True)},
}
LIMITS = {"u8": 255, "u16": 65535, "u32": 2**32 - 1, "usize": 2**64 - 1}


class Fault(Exception):
    pass


def serde_type(v):
    if isinstance(v, bool):
        return "boolean `%s`" % ("true" if v else "false")
    if isinstance(v, int):
        return ("integer `%d`" % v)
    if isinstance(v, float):
        return "floating point `%s`" % v
    if isinstance(v, str):
        return "string %s" % json.dumps(v)
    if v is None:
        return "null"
    return "a sequence" if isinstance(v, list) else "a map"


def deserialize(raw, schema_name):
    """serde_json::from_slice into a deny_unknown_fields struct."""
    prefix = "An error occurred when deserializing the json body of a request: "
    schema = SCHEMAS[schema_name]
    def pairs(items):
        seen = set()
        for k, _ in items:
            if k in seen:
                raise Fault(prefix + "duplicate field `%s`." % k)
            seen.add(k)
        return dict(items)

    def no_constant(name):
        raise Fault(prefix + "expected value.")

    try:
        body = json.loads(raw.decode("utf-8"), object_pairs_hook=pairs, parse_constant=no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Fault(prefix + "%s." % e)
    if not isinstance(body, dict):
        raise Fault(prefix + "invalid type: %s, expected struct %s." % (serde_type(body), schema_name))
    for key, value in body.items():
        if key not in schema:
            raise Fault(prefix + "unknown field `%s`, expected one of %s." %
                        (key, ", ".join("`%s`" % k for k in schema)))
        kind = schema[key][0]
        ok = {"bool": lambda x: isinstance(x, bool), "string": lambda x: isinstance(x, str),
              "object": lambda x: isinstance(x, dict)}.get(
            kind, lambda x: isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= LIMITS[kind])
        if not ok(value):
            want = {"bool": "a boolean", "string": "a string", "object": "a map"}.get(kind, kind)
            if isinstance(value, int) and not isinstance(value, bool) and kind in LIMITS:
                raise Fault(prefix + "invalid value: %s, expected %s." % (serde_type(value), kind))
            raise Fault(prefix + "invalid type: %s, expected %s." % (serde_type(value), want))
    for key, (kind, required) in schema.items():
        if required and key not in body:
            raise Fault(prefix + "missing field `%s`." % key)
    return body


TUNSETIFF = 0x400454ca
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000


def open_tap(name):
    """What Firecracker's Tap::open_named does: /dev/net/tun, TUNSETIFF with
    IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, in the double's own network namespace
    and with its own credentials. An existing tap attaches when we own it or
    hold CAP_NET_ADMIN; without the capability a missing one is EPERM (with
    it, the kernel would make a new one, as for Firecracker)."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb", buffering=0)


class Vmm:
    def __init__(self, api_sock, log_path):
        self.lock = threading.Lock()
        self.api_sock = api_sock
        self.log_path = log_path
        self.started = False
        self.machine = {"vcpu_count": 1, "mem_size_mib": 128, "smt": False, "track_dirty_pages": False}
        self.boot = None
        self.drives = {}
        self.nets = {}
        self.taps = {}
        self.vsock = None
        self.agent = None
        self.next_port = 1073741824

    def log(self, entry):
        if self.log_path:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def handle(self, method, path, raw):
        """Returns (status, body dict or None)."""
        entry = {"method": method, "path": path}
        try:
            entry["body"] = json.loads(raw) if raw else None
        except ValueError:
            entry["raw"] = raw.decode("utf-8", "replace")
        self.log(entry)
        with self.lock:
            try:
                return self.route(method, path, raw)
            except Fault as f:
                return 400, {"fault_message": str(f)}

    def route(self, method, path, raw):
        if method == "GET" and path == "/":
            return 200, {"id": "anonymous-instance", "state": "Running" if self.started else "Not started",
                         "vmm_version": "1.7.0", "app_name": "Firecracker"}
        if method == "GET" and path == "/machine-config":
            return 200, self.machine
        parts = path.strip("/").split("/")
        if method == "PUT" and parts[0] in ("machine-config", "boot-source", "vsock") and len(parts) == 1 or \
                method == "PUT" and parts[0] in ("drives", "network-interfaces") and len(parts) == 2:
            if not raw:
                raise Fault("Empty PUT request.")
            if self.started:
                raise Fault(POST_BOOT)
            return getattr(self, "put_" + parts[0].replace("-", "_"))(raw, parts[1:])
        if method == "PUT" and path == "/actions":
            if not raw:
                raise Fault("Empty PUT request.")
            return self.action(deserialize(raw, "InstanceActionInfo")["action_type"])
        raise Fault("Invalid request method and/or path: %s %s." % (method, path))

    def put_machine_config(self, raw, _):
        body = deserialize(raw, "MachineConfiguration")
        if not 1 <= body["vcpu_count"] <= 32:
            raise Fault("The number of vCPUs must be greater than 0, less than 32 and must be 1 or an even "
                        "number if SMT is enabled.")
        if body["mem_size_mib"] == 0:
            raise Fault("The memory size (MiB) is either 0, or not a multiple of the configured page size.")
        self.machine = dict(self.machine, **body)
        return 204, None

    def put_boot_source(self, raw, _):
        body = deserialize(raw, "BootSource")
        for key, what in (("kernel_image_path", "kernel"), ("initrd_path", "initrd")):
            if key in body:
                try:
                    open(body[key], "rb").close()
                except OSError as e:
                    raise Fault("The %s file cannot be opened: %s (os error %d)" % (what, e.strerror, e.errno))
        self.boot = body
        return 204, None

    def put_drives(self, raw, ids):
        body = deserialize(raw, "Drive")
        if ids[0] != body["drive_id"]:
            raise Fault("The id from the path does not match the id from the body!")
        if "path_on_host" not in body:
            raise Fault("Unable to create the virtio block device: missing path_on_host")
        try:
            open(body["path_on_host"], "rb" if body.get("is_read_only") else "r+b").close()
        except OSError as e:
            raise Fault("Unable to create the virtio block device: BackingFile(Os { code: %d, kind: %s, message: "
                        "\"%s\" }, \"%s\")" % (e.errno, type(e).__name__, e.strerror, body["path_on_host"]))
        if body["is_root_device"] and any(d["is_root_device"] for k, d in self.drives.items() if k != ids[0]):
            raise Fault("A root block device already exists!")
        self.drives[ids[0]] = body
        return 204, None

    def put_network_interfaces(self, raw, ids):
        body = deserialize(raw, "NetworkInterface")
        if ids[0] != body["iface_id"]:
            raise Fault("The id from the path does not match the id from the body!")
        if ids[0] in self.taps:
            self.taps.pop(ids[0]).close()
        try:
            self.taps[ids[0]] = open_tap(body["host_dev_name"])
        except OSError as e:
            raise Fault("Could not create the network device: Open tap device failed: Error while creating ifreq "
                        "structure: %s (os error %d). Invalid TUN/TAP Backend provided by %s. Check our "
                        "documentation on setting up the network devices." %
                        (e.strerror, e.errno, body["host_dev_name"]))
        self.nets[ids[0]] = body
        self.log({"tap": body["host_dev_name"], "opened": True})
        return 204, None

    def put_vsock(self, raw, _):
        body = deserialize(raw, "Vsock")
        if body["guest_cid"] < 3:
            raise Fault("Cannot create backend for vsock device: the guest CID must be at least 3.")
        self.vsock = body
        return 204, None

    def action(self, kind):
        if kind not in ("FlushMetrics", "InstanceStart", "SendCtrlAltDel"):
            raise Fault("An error occurred when deserializing the json body of a request: unknown variant `%s`, "
                        "expected one of `FlushMetrics`, `InstanceStart`, `SendCtrlAltDel`." % kind)
        if kind == "InstanceStart":
            if self.started:
                raise Fault(POST_BOOT)
            self.start()
            return 204, None
        if kind == "SendCtrlAltDel":
            if not self.started:
                raise Fault(PRE_BOOT)
            if os.environ.get("AK_FC_DOUBLE_CAD") == "exit":
                threading.Timer(0.05, power_off).start()
            return 204, None
        return 204, None

    def start(self):
        if not self.boot:
            raise Fault("Start microvm error: Cannot start microvm without kernel configuration.")
        with open(self.boot["kernel_image_path"], "rb") as f:
            if f.read(4) != b"\x7fELF":
                raise Fault("Start microvm error: Cannot load kernel due to invalid memory configuration or "
                            "invalid kernel image: Kernel Loader: failed to load ELF kernel image")
        if self.vsock:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                listener.bind(self.vsock["uds_path"])
            except OSError as e:
                listener.close()
                raise Fault("Start microvm error: Cannot create backend for vsock device: UnixBind(Os { code: %d, "
                            "kind: AddrInUse, message: \"%s\" })" % (e.errno, e.strerror))
            listener.listen(64)
            self.start_agent()
            threading.Thread(target=self.serve_vsock, args=(listener,), daemon=True).start()
        self.started = True
        print("firecracker double: guest started (vcpus %d, %d MiB, boot_args %s)" %
              (self.machine["vcpu_count"], self.machine["mem_size_mib"], self.boot.get("boot_args", "")),
              flush=True)

    def start_agent(self):
        binary = os.environ.get("AK_FC_DOUBLE_GUEST")
        if not binary:
            return
        path = os.path.join(os.path.dirname(self.vsock["uds_path"]) or ".", "double-guest.sock")
        self.agent_path = path
        self.agent = SPAWNER.spawn([binary, "--listen", "unix:" + path])
        for _ in range(500):
            if os.path.exists(path):
                return
            time.sleep(0.01)

    def serve_vsock(self, listener):
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=self.vsock_conn, args=(conn,), daemon=True).start()

    def vsock_conn(self, conn):
        line = b""
        while not line.endswith(b"\n") and len(line) < 32:
            b = conn.recv(1)
            if not b:
                break
            line += b
        words = line.decode("ascii", "replace").split()
        if len(words) != 2 or words[0] != "CONNECT" or not words[1].isdigit() or int(words[1]) != AGENT_PORT \
                or not self.agent:
            conn.close()
            return
        guest = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            guest.connect(self.agent_path)
        except OSError:
            conn.close()
            guest.close()
            return
        with self.lock:
            port = self.next_port
            self.next_port += 1
        conn.sendall(b"OK %d\n" % port)
        for a, b in ((conn, guest), (guest, conn)):
            threading.Thread(target=splice, args=(a, b), daemon=True).start()


class Spawner:
    """Starts children from one thread that lives as long as the double:
    PR_SET_PDEATHSIG fires when the *thread* that forked exits, and request
    handler threads are short-lived."""

    def __init__(self):
        self.cond = threading.Condition()
        self.todo = []
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        libc = ctypes.CDLL(None, use_errno=True)
        while True:
            with self.cond:
                while not self.todo:
                    self.cond.wait()
                job = self.todo.pop(0)
            # The agent dies with the double (PR_SET_PDEATHSIG = 1) and shares
            # its process group, which the backend kills.
            job["proc"] = subprocess.Popen(job["argv"], preexec_fn=lambda: libc.prctl(1, signal.SIGKILL))
            with self.cond:
                job["done"] = True
                self.cond.notify_all()

    def spawn(self, argv):
        job = {"argv": argv, "done": False}
        with self.cond:
            self.todo.append(job)
            self.cond.notify_all()
            while not job["done"]:
                self.cond.wait()
        return job["proc"]


SPAWNER = None


def splice(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def power_off():
    print("firecracker double: guest reset (Ctrl+Alt+Del), exiting", flush=True)
    os._exit(0)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    vmm = None

    def address_string(self):
        return "unix"

    def log_message(self, fmt, *args):
        pass

    def serve(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        status, body = self.vmm.handle(self.command, self.path, raw)
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = serve


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main(argv):
    if argv[1:] == ["--version"]:
        print("Firecracker v1.7.0 (double)")
        return 0
    if len(argv) != 3 or argv[1] != "--api-sock":
        sys.stderr.write("Arguments parsing error: expected --api-sock PATH, got %s\n" % " ".join(argv[1:]))
        return 153
    global SPAWNER
    SPAWNER = Spawner()
    vmm = Vmm(argv[2], os.environ.get("AK_FC_DOUBLE_LOG"))
    vmm.log({"argv": argv[1:]})
    Handler.vmm = vmm
    try:
        server = Server(argv[2], Handler)
    except OSError as e:
        sys.stderr.write("Failed to open the API socket at %s: %s\n" % (argv[2], e))
        return 1
    signal.signal(signal.SIGTERM, lambda *_: os._exit(143))
    sys.stderr.write("firecracker double: API on %s\n" % argv[2])
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
