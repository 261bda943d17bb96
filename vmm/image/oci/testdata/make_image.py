#!/usr/bin/env python3
"""Writes an OCI image layout (what `skopeo copy ... oci:DIR:TAG` reads) with
test images made here: gzip tar layers, a config, a manifest, and with
--index an image index of two platforms (linux/amd64 and linux/arm64).

make_image.py DIR TAG [--layers N] [--layer-bytes B] [--index] [--seed S]
Prints the top descriptor's digest (manifest, or index with --index)."""
import argparse
import gzip
import hashlib
import io
import json
import os
import random
import tarfile


def put_blob(root, data):
    d = hashlib.sha256(data).hexdigest()
    path = os.path.join(root, "blobs", "sha256", d)
    with open(path, "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}


def layer(seed, i, nbytes):
    rnd = random.Random(f"{seed}-{i}")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in ((f"layer{i}/hello.txt", f"hello {seed} {i}\n".encode()),
                           (f"layer{i}/random.bin", rnd.randbytes(nbytes))):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 0
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=0) as g:
        g.write(raw)
    return gz.getvalue(), hashlib.sha256(raw).hexdigest()


def image(root, seed, arch, nlayers, nbytes):
    layers, diffs = [], []
    for i in range(nlayers):
        gz, diff = layer(f"{seed}-{arch}", i, nbytes)
        d = put_blob(root, gz)
        d["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
        layers.append(d)
        diffs.append("sha256:" + diff)
    config = {"architecture": arch, "os": "linux",
              "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": diffs}}
    c = put_blob(root, json.dumps(config, sort_keys=True).encode())
    c["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": c, "layers": layers}
    m = put_blob(root, json.dumps(manifest, sort_keys=True).encode())
    m["mediaType"] = manifest["mediaType"]
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("tag")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--layer-bytes", type=int, default=4096)
    ap.add_argument("--index", action="store_true")
    ap.add_argument("--seed", default="s")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.dir, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(a.dir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    if a.index:
        entries = []
        for arch in ("arm64", "amd64"):
            m = image(a.dir, a.seed, arch, a.layers, a.layer_bytes)
            m["platform"] = {"os": "linux", "architecture": arch}
            entries.append(m)
        idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
        top = put_blob(a.dir, json.dumps(idx, sort_keys=True).encode())
        top["mediaType"] = idx["mediaType"]
    else:
        top = image(a.dir, a.seed, "amd64", a.layers, a.layer_bytes)
    top["annotations"] = {"org.opencontainers.image.ref.name": a.tag}
    with open(os.path.join(a.dir, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [top]}, f)
    print(top["digest"])


if __name__ == "__main__":
    main()
