/* ak's disk images on a registry: a local disk image (a snapshot, or any
 * root filesystem image of the store) as an OCI image.
 *
 *   manifest  application/vnd.oci.image.manifest.v1+json, one layer
 *   layer     AK_DISK_MEDIA_TYPE: the raw ext4 disk, one zstd stream (no tar)
 *   config    an ordinary image config (application/vnd.oci.image.config.v1+json):
 *             os linux, architecture amd64, created, config.Env/WorkingDir/
 *             User/Cmd as the image had them, rootfs.diff_ids = [SHA-256 of
 *             the uncompressed disk], and config.Labels:
 *               dev.ak.disk.size         the disk's size in bytes (decimal)
 *               dev.ak.snapshot.image    the image the snapshotted sandbox ran
 *               dev.ak.snapshot.sandbox  the sandbox it was taken from
 *               dev.ak.image.user-ids    User as resolved in the image's own
 *                                        /etc/passwd and /etc/group: "UID:GID"
 *                                        (absent when it names no user)
 *
 * A pull installs such a layer as the image's root disk as it is (nothing is
 * unpacked or added), checked against the layer digest, the diff_id and the
 * size label. Shared by the OCI parsers (oci_spec.h) and the packer. */
#pragma once

#define AK_DISK_MEDIA_TYPE "application/vnd.ak.disk.ext4.v1+zstd"
#define AK_DISK_LABEL_SIZE "dev.ak.disk.size"
#define AK_DISK_LABEL_SOURCE "dev.ak.snapshot.image"
#define AK_DISK_LABEL_SANDBOX "dev.ak.snapshot.sandbox"
#define AK_DISK_LABEL_USER_IDS "dev.ak.image.user-ids"
/* The largest disk ak packs or installs. */
#define AK_DISK_MAX ((unsigned long long)64 << 30)
