#!/bin/busybox sh
# PID 1 of the dm-flakey test VM (copied into the initramfs by vm.sh; runs on busybox only).
#
# Loads the modules vm.sh listed in /modules.order (virtio, dm-mod, dm-flakey, ext4, xfs, 9p,
# overlay), then switches into the HOST's root filesystem: shared read-only over virtio-9p with
# a tmpfs overlay on top, so the host's node, dmsetup, mkfs.ext4, mkfs.xfs and the project
# checkout are used as they are and every write is thrown away at power-off. The per-run job folder is shared
# read-write at its host path; $job/guest.sh is what runs, and its exit status goes to
# $job/guest.rc (vm.sh reads it from there after QEMU exits).
export PATH=/bin
mkdir -p /proc /sys /dev /lower /ovl /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

halt() {
  echo "dmflakey-init: $*"
  sync
  poweroff -f
}

for m in $(cat /modules.order); do
  insmod "/mods/$m" || echo "dmflakey-init: insmod $m FAILED"
done

# vm.sh puts the job folder's host path on the kernel command line (hence: no spaces in it).
job=$(sed -n 's/.*dmflakey_job=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$job" ] || halt "no dmflakey_job= on the kernel command line"

p9=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$p9,ro,cache=loose" hostroot /lower || halt "mounting the host root over 9p failed"
mount -t tmpfs -o size=75% tmpfs /ovl && mkdir -p /ovl/upper /ovl/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/ovl/upper,workdir=/ovl/work /newroot ||
  halt "overlay mount failed"
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm /newroot/run /newroot/tmp
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t tmpfs tmpfs /newroot/run
mkdir -p "/newroot$job"
# cache=none: results written here must reach the host before power-off.
mount -t 9p -o "$p9,cache=none" job "/newroot$job" || halt "mounting the job folder over 9p failed"

echo "dmflakey-init: ready after $(cut -d' ' -f1 /proc/uptime)s of guest uptime"
chroot /newroot /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root TERM=dumb DM_DISABLE_UDEV=1 \
  DMFLAKEY_JOB_DIR="$job" DMFLAKEY_SCRATCH_DEV=/dev/vda \
  /bin/bash "$job/guest.sh"
rc=$?
echo "$rc" >"/newroot$job/guest.rc"
sync
umount "/newroot$job"
halt "guest command exited with status $rc after $(cut -d' ' -f1 /proc/uptime)s of guest uptime"
