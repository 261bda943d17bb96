#!/usr/bin/env python3
"""Writes an OCI image layout for ak's import tests, from a JSON spec:

  {"out": DIR, "tag": "latest",
   "config": {"Env": [...], "WorkingDir": "/w", "User": "1000"},
   "layers": [{"compression": "gzip"|"zstd"|"none",
               "end": "unpadded"|"in-data" (the tar stream cut after the
                      last entry's data, as umoci insert writes it, or
                      one byte before that),
               "entries": [{"path": "etc/x", "type": "file", "data": "...",
                            "mode": 0o644, "uid": 0, "gid": 0,
                            "link": "...", "major": 1, "minor": 3,
                            "xattrs": {"user.k": "v"}, "declared_size": N,
                            "src": "/host/file (contents instead of data)"}]}],
   "corrupt": {"diff_id": 0, "blob": 0, "truncate": 0}}   (layer indexes)

Python's tarfile and hashlib are a second implementation of the formats
ak reads. "declared_size" writes a header claiming that many bytes and no
data (a hostile layer); "raw_name" keeps a name unnormalised."""
import gzip, hashlib, io, json, os, subprocess, sys, tarfile

TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE,
         "fifo": tarfile.FIFOTYPE}


class RawTarInfo(tarfile.TarInfo):
    """A name as given: tarfile would add "/" to a directory's."""
    def get_info(self):
        info = super().get_info()
        info["name"] = self.name
        return info


def layer_tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for e in entries:
            ti = (RawTarInfo if e.get("raw_name") else tarfile.TarInfo)(e["path"])
            ti.type = TYPES[e.get("type", "file")]
            ti.mode = e.get("mode", 0o755 if ti.type == tarfile.DIRTYPE else 0o644)
            ti.uid, ti.gid = e.get("uid", 0), e.get("gid", 0)
            ti.uname = ti.gname = ""
            ti.mtime = 1700000000
            ti.linkname = e.get("link", "")
            ti.devmajor, ti.devminor = e.get("major", 0), e.get("minor", 0)
            if "xattrs" in e:
                ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in e["xattrs"].items()}
            if "declared_size" in e:
                ti.size = e["declared_size"]
                t.fileobj.write(ti.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
                continue
            data = open(e["src"], "rb").read() if "src" in e else e.get("data", "").encode()
            ti.size = len(data) if ti.type == tarfile.REGTYPE else 0
            t.addfile(ti, io.BytesIO(data) if ti.size else None)
    return buf.getvalue()


def cut(raw, how):
    """The tar stream ending right after the last entry's data (no padding,
    no end-of-archive blocks) or one byte inside that data."""
    if not how:
        return raw
    last = tarfile.open(fileobj=io.BytesIO(raw)).getmembers()[-1]
    end = last.offset_data + last.size
    return raw[: end if how == "unpadded" else end - 1]


def compress(raw, how):
    if how == "gzip":
        return gzip.compress(raw, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
    if how == "zstd":
        out = subprocess.run(["zstd", "-q", "-c"], input=raw, stdout=subprocess.PIPE, check=True).stdout
        return out, "application/vnd.oci.image.layer.v1.tar+zstd"
    return raw, "application/vnd.oci.image.layer.v1.tar"


def put(out, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(out, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d


def main():
    spec = json.load(open(sys.argv[1]))
    out = spec["out"]
    corrupt = spec.get("corrupt", {})
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    layers, diff_ids = [], []
    for i, l in enumerate(spec["layers"]):
        raw = cut(layer_tar(l["entries"]), l.get("end"))
        blob, mt = compress(raw, l.get("compression", "gzip"))
        diff = "sha256:" + hashlib.sha256(raw).hexdigest()
        if corrupt.get("diff_id") == i:
            diff = "sha256:" + hashlib.sha256(b"not this layer").hexdigest()
        digest = put(out, blob)
        path = os.path.join(out, "blobs", "sha256", digest[7:])
        if corrupt.get("blob") == i:  # same size, one byte changed
            b = bytearray(blob)
            b[len(b) // 2] ^= 0xFF
            open(path, "wb").write(bytes(b))
        if corrupt.get("truncate") == i:
            open(path, "wb").write(blob[: len(blob) // 2])
        layers.append({"mediaType": mt, "digest": digest, "size": len(blob)})
        diff_ids.append(diff)
    config = {"architecture": "amd64", "os": "linux", "config": spec.get("config", {}),
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    cb = json.dumps(config).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": put(out, cb), "size": len(cb)},
                "layers": layers}
    mb = json.dumps(manifest).encode()
    index = {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(out, mb), "size": len(mb),
         "annotations": {"org.opencontainers.image.ref.name": spec.get("tag", "latest")}}]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)
    print(index["manifests"][0]["digest"])


main()
