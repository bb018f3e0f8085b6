#!/bin/bash
# vm.sh - run a command next to a REAL dm-flakey device, on machines whose own kernel has no
# device-mapper: boots Debian's stock kernel (dm-mod and dm-flakey are modules there) under QEMU.
#
#   test/crash/dmflakey/vm.sh [-- CMD ARGS...]
#
# CMD (default: a short self-check) runs inside the VM, in the project directory, and vm.sh
# exits with its status. Inside the VM:
#   - dm-mod and dm-flakey are loaded; DM_DISABLE_UDEV=1 is set (there is no udev);
#   - the host's / is visible read-only with a throw-away tmpfs overlay on top, so the host's
#     node, dmsetup, mkfs.ext4, e2fsck, mkfs.xfs, xfs_repair and this checkout (node_modules
#     included) are used as is;
#   - $DMFLAKEY_SCRATCH_DEV (/dev/vda) is a blank scratch disk;
#   - $DMFLAKEY_JOB_DIR is a read-write folder shared with the host (ledgers, results; it is the
#     only way files come back out, besides the console);
#   - every DMFLAKEY_* variable of the caller's environment is passed through.
#
# Everything it needs is set up on first use, with no manual step: missing apt packages are
# installed (qemu-system-x86, busybox-static, dmsetup, e2fsprogs, xfsprogs, xz-utils, zstd); the
# kernel .deb is fetched with `apt-get download` and unpacked privately into .vm-cache/ at the
# repository root (installing a kernel package would drag in udev/initramfs-tools); the initramfs is built
# there from guest-init.sh. Later runs reuse the cache (rebuilt when guest-init.sh or the kernel
# changes).
#
# When the VM route is impossible here (not root and no password-less sudo, not x86_64, no apt,
# packages or kernel not installable), it prints one line
#     dmflakey: SKIPPED (<reason>)
# and exits with $DMFLAKEY_SKIP_EXIT (default 0; set e.g. 77 to tell a skip from a pass by the
# exit code alone, or 1 to make a skip fail). Any other failure (the VM did not boot or finish)
# exits 3; an error in this script's own usage exits 2.
#
# Knobs: DMFLAKEY_MEM (MiB, 1024), DMFLAKEY_SMP (2), DMFLAKEY_DISK_SIZE (scratch disk, 768M),
# DMFLAKEY_TIMEOUT (seconds for the VM, 1500), DMFLAKEY_KEEP_JOB=1 (keep the job folder even on
# success; it is always kept on failure), DMFLAKEY_TIMESTAMPS=1 (prefix console lines with
# "[vm +N s]"), DMFLAKEY_LOGLEVEL (guest kernel console loglevel, 3), DMFLAKEY_CACHE (cache dir),
# DMFLAKEY_KERNEL_META (apt meta-packages to try for the kernel, in order; default
# "linux-image-6.12-amd64 linux-image-amd64": Debian 12's 6.12 line has dm-flakey's
# random_write_corrupt, its default 6.1 kernel does not).
#
# Accelerator: TCG (software emulation). On our machines /dev/kvm is a paravirtual KVM (PVM)
# that cannot run a stock kernel; real hardware KVM is used when present. Guest code runs
# ~12x slower under TCG, so callers keep per-step workloads small.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
T0=$EPOCHREALTIME
CACHE=${DMFLAKEY_CACHE:-$REPO/.vm-cache}
MEM=${DMFLAKEY_MEM:-1024}
SMP=${DMFLAKEY_SMP:-2}
DISK_SIZE=${DMFLAKEY_DISK_SIZE:-768M}
TIMEOUT=${DMFLAKEY_TIMEOUT:-1500}
# Modules wanted in the guest; their dependencies are added from each module's modinfo.
WANT_MODULES="virtio_pci virtio_blk dm-mod dm-flakey crc32c_generic ext4 xfs 9pnet_virtio 9p overlay"
export DEBIAN_FRONTEND=noninteractive

seconds_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }
say() { printf 'dmflakey-vm[%5ss] %s\n' "$(seconds_since "$T0")" "$*" >&2; }
skip() {
  echo "dmflakey: SKIPPED ($*)"
  exit "${DMFLAKEY_SKIP_EXIT:-0}"
}
fail() {
  say "ERROR: $*"
  exit 3
}

CMD=()
if [ $# -gt 0 ]; then
  [ "$1" = "--" ] || { echo "usage: $0 [-- CMD ARGS...]" >&2; exit 2; }
  shift
  CMD=("$@")
  [ ${#CMD[@]} -gt 0 ] || { echo "usage: $0 [-- CMD ARGS...]: no command after --" >&2; exit 2; }
fi

# ------------------------------------------------------------------ 0. can this machine do it?
if [ "$(id -u)" != 0 ]; then
  # Root is needed for apt-get and for nothing else; use password-less sudo when there is one
  # (as on hosted CI runners), keeping the caller's PATH (node) and DMFLAKEY_* settings.
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    say "not root: re-running under sudo"
    keep=("PATH=$PATH")
    while IFS= read -r setting; do keep+=("$setting"); done < <(env | grep -E '^DMFLAKEY_[A-Z0-9_]*=')
    exec sudo -n env "${keep[@]}" "$0" "$@"
  fi
  skip "needs root (apt-get, QEMU set-up) and sudo -n is not available"
fi
[ "$(uname -m)" = x86_64 ] || skip "the VM recipe is x86_64-only; this host is $(uname -m)"
command -v apt-get >/dev/null && command -v dpkg-query >/dev/null ||
  skip "no apt-get/dpkg on this host: cannot install QEMU nor fetch the Debian kernel"
command -v node >/dev/null || skip "node is not on PATH (the guest runs the host's node)"

# ------------------------------------------------------------------ 1. host packages
apt_updated=
apt_update() {
  [ -z "$apt_updated" ] || return 0
  say "apt-get update"
  apt-get update -o DPkg::Lock::Timeout=300 -qq >/dev/null 2>&1 || say "apt-get update failed (continuing with the lists there are)"
  apt_updated=1
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
installed qemu-system-x86 || missing+=(qemu-system-x86)
installed busybox-static || missing+=(busybox-static) # the initramfs userland
command -v dmsetup >/dev/null || missing+=(dmsetup)   # the guest runs the host's copies of these
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
command -v mkfs.xfs >/dev/null || missing+=(xfsprogs) # the XFS round (mkfs.xfs, xfs_repair -n)
command -v xz >/dev/null || missing+=(xz-utils)
command -v zstd >/dev/null || missing+=(zstd)
if [ ${#missing[@]} -gt 0 ]; then
  apt_update
  say "apt-get install ${missing[*]}"
  apt_log=$(mktemp)
  if ! apt-get install -o DPkg::Lock::Timeout=300 --no-install-recommends -y -qq "${missing[@]}" >"$apt_log" 2>&1; then
    reason=$(grep -E '^(E|W):' "$apt_log" | tail -1)
    rm -f "$apt_log"
    skip "apt-get install ${missing[*]} failed: ${reason:-see apt-get output}"
  fi
  rm -f "$apt_log"
fi
for tool in qemu-system-x86_64 dmsetup mkfs.ext4 e2fsck dumpe2fs filefrag mkfs.xfs xfs_repair blockdev xz zstd; do
  command -v "$tool" >/dev/null || skip "host lacks $tool after installing packages"
done
[ -x /bin/busybox ] || skip "/bin/busybox missing after installing busybox-static"

# ------------------------------------------------------------------ 2. kernel + initramfs (cached)
# Debian 12's newer kernel line (bookworm-security ships 6.12): its dm-flakey (v1.5.1+) has
# random_write_corrupt, which 6.1's lacks. The default 6.1 kernel is the fall-back (the corruption
# round then uses corrupt_bio_byte). DMFLAKEY_KERNEL_META picks another meta-package.
KERNEL_METAS=${DMFLAKEY_KERNEL_META:-linux-image-6.12-amd64 linux-image-amd64}
kernel_package() {
  local meta pkg
  for meta in $KERNEL_METAS; do
    pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
    if [ -n "$pkg" ]; then echo "$pkg"; return 0; fi
  done
  return 1
}
KPKG=$(kernel_package || true)
if [ -z "$KPKG" ]; then
  apt_update
  KPKG=$(kernel_package || true)
fi
[ -n "$KPKG" ] || skip "apt cannot resolve any of $KERNEL_METAS to a kernel package"
KVER=${KPKG#linux-image-}
RECIPE=$({ cat "$HERE/guest-init.sh"; echo "$WANT_MODULES"; echo "recipe 2: builtin modules, xz|zstd vmlinux"; } | sha256sum | cut -c1-12)
KDIR=$CACHE/kernel/$KVER-$RECIPE

# Prints the module names a .ko declares in its modinfo "depends=" (the .deb has no modules.dep).
module_depends() {
  case "$1" in
    *.xz) xz -dc "$1" ;;
    *.zst) zstd -qdc "$1" ;;
    *) cat "$1" ;;
  esac | tr '\0' '\n' | grep -a -m1 '^depends=' | sed 's/^depends=//; s/,/ /g' || true
}

# Writes the ELF kernel inside bzImage $1 to $2: finds the payload by its XZ or zstd magic.
extract_vmlinux() {
  local off
  off=$(LC_ALL=C grep -obUaP '\xfd\x37\x7a\x58\x5a\x00' "$1" | head -1 | cut -d: -f1 || true)
  if [ -n "$off" ]; then
    xz -dc --single-stream < <(tail -c +$((off + 1)) "$1") >"$2" 2>/dev/null || true
  else
    off=$(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$1" | head -1 | cut -d: -f1 || true)
    [ -n "$off" ] || return 1
    # zstd complains about the bytes after the frame; the frame itself is what we want.
    tail -c +$((off + 1)) "$1" | zstd -qdc 2>/dev/null >"$2" || true
  fi
  [ "$(head -c 4 "$2" | od -An -c | tr -d ' ')" = '177ELF' ]
}

build_kernel_dir() {
  local x moddir t f p n out
  x=$(mktemp -d "$CACHE/extract.XXXXXX")
  chmod 755 "$x"
  # shellcheck disable=SC2064
  trap "rm -rf '$x'" EXIT
  # The .deb is kept, so a change of guest-init.sh only rebuilds the initramfs.
  local deb
  deb=$(ls "$CACHE/debs/$KPKG"_*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    apt_update
    say "apt-get download $KPKG"
    mkdir -p "$CACHE/debs"
    (cd "$x" && apt-get download -q -o APT::Sandbox::User=root "$KPKG" >/dev/null 2>&1) ||
      skip "apt-get download $KPKG failed"
    rm -f "$CACHE/debs/"*.deb # an older kernel's
    mv "$x"/"$KPKG"_*.deb "$CACHE/debs/"
    deb=$(ls "$CACHE/debs/$KPKG"_*.deb | head -1)
  fi
  dpkg-deb -x "$deb" "$x/root"
  moddir=$x/root/lib/modules/$KVER
  [ -d "$moddir/kernel" ] || fail "$KPKG has no lib/modules/$KVER/kernel"

  # Module load order: dependencies first.
  declare -A path_of=() seen=() builtin=()
  local order=()
  while IFS= read -r f; do
    n=${f##*/}
    n=${n%%.ko*}
    path_of[${n//-/_}]=${f#"$moddir"/}
  done < <(find "$moddir/kernel" -name '*.ko*')
  # Built into the kernel image in some versions (e.g. virtio_pci in 6.12): nothing to load.
  if [ -f "$moddir/modules.builtin" ]; then
    while IFS= read -r f; do
      n=${f##*/}
      n=${n%%.ko*}
      builtin[${n//-/_}]=1
    done <"$moddir/modules.builtin"
  fi
  add_module() {
    local name=${1//-/_} dep
    if [ -z "${path_of[$name]:-}" ] && [ -n "${builtin[$name]:-}" ]; then return 0; fi
    [ -n "${path_of[$name]:-}" ] || fail "module $1 is not in $KPKG"
    [ -z "${seen[$name]:-}" ] || return 0
    seen[$name]=1
    for dep in $(module_depends "$moddir/${path_of[$name]}"); do add_module "$dep"; done
    order+=("${path_of[$name]}")
  }
  for n in $WANT_MODULES; do add_module "$n"; done

  t=$x/initramfs
  mkdir -p "$t/bin" "$t/mods"
  : >"$t/modules.order"
  for p in "${order[@]}"; do
    f=${p##*/}
    case "$f" in
      *.ko.xz) xz -dc "$moddir/$p" >"$t/mods/${f%.xz}" && f=${f%.xz} ;;
      *.ko.zst) zstd -qdc "$moddir/$p" >"$t/mods/${f%.zst}" && f=${f%.zst} ;;
      *) cp "$moddir/$p" "$t/mods/$f" ;;
    esac
    echo "$f" >>"$t/modules.order"
  done
  cp /bin/busybox "$t/bin/busybox"
  for n in sh mount umount mkdir cat sed cut insmod chroot poweroff sync echo; do ln -s busybox "$t/bin/$n"; done
  cp "$HERE/guest-init.sh" "$t/init"
  chmod 755 "$t/init"

  out=$x/out
  mkdir -p "$out"
  (cd "$t" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$out/initrd.gz"
  cp "$x/root/boot/vmlinuz-$KVER" "$out/vmlinuz"
  # Keep the kernel decompressed too: QEMU boots an ELF vmlinux through its PVH entry point,
  # which skips seconds of decompression under TCG (6.1 packs it with XZ, 6.12 with zstd).
  if ! extract_vmlinux "$out/vmlinuz" "$out/vmlinux"; then
    rm -f "$out/vmlinux"
    say "note: could not decompress the kernel; booting the bzImage instead"
  fi
  tr '\n' ' ' <"$t/modules.order" >"$out/modules.txt"
  rm -rf "$CACHE/kernel/"* # builds of other kernels or recipes
  mv "$out" "$KDIR"
  rm -rf "$x"
  trap - EXIT
  say "built $KDIR (modules: $(cat "$KDIR/modules.txt"))"
}

mkdir -p "$CACHE/kernel" "$CACHE/jobs"
exec 9>"$CACHE/.lock"
flock 9 # concurrent runs share the cache; one builds it
if [ -s "$KDIR/vmlinuz" ] && [ -s "$KDIR/initrd.gz" ]; then
  say "using cached kernel $KVER ($KDIR)"
else
  build_kernel_dir
fi
flock -u 9
exec 9>&-

# ------------------------------------------------------------------ 3. accelerator
ACCEL=${DMFLAKEY_ACCEL:-tcg}
if [ -z "${DMFLAKEY_ACCEL:-}" ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] &&
  { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
  ACCEL=kvm
fi
case "$ACCEL" in
  kvm) ACCEL_ARGS=(-accel kvm -cpu host) ;;
  tcg) ACCEL_ARGS=(-accel tcg -cpu max) ;;
  *) echo "DMFLAKEY_ACCEL must be kvm or tcg" >&2; exit 2 ;;
esac

# ------------------------------------------------------------------ 4. job folder
# Its host path goes on the kernel command line (and is mounted at the same path in the guest),
# so it must not contain whitespace: fall back to /tmp when the checkout's path does.
JOBS=$CACHE/jobs
case "$JOBS" in *[[:space:]]*) JOBS=/tmp/recoverylog-dmflakey-jobs && mkdir -p "$JOBS" ;; esac
# Job folders of failed runs are kept as evidence: the five newest are enough.
{ ls -1dt "$JOBS"/job.* 2>/dev/null || true; } | tail -n +5 | xargs -r rm -rf
JOB=$(mktemp -d "$JOBS/job.XXXXXX")
chmod 755 "$JOB"
truncate -s "$DISK_SIZE" "$JOB/disk.img"
if [ ${#CMD[@]} -eq 0 ]; then
  CMD=(sh -c 'set -e; echo "guest: kernel $(uname -r), node $(node -v)"
    dmsetup targets | grep -q "^flakey" && echo "guest: dm-flakey target present"
    grep -qw xfs /proc/filesystems && echo "guest: xfs available ($(mkfs.xfs -V))"
    test -b "$DMFLAKEY_SCRATCH_DEV" && echo "guest: scratch disk $DMFLAKEY_SCRATCH_DEV, $(blockdev --getsize64 "$DMFLAKEY_SCRATCH_DEV") bytes"
    touch "$DMFLAKEY_JOB_DIR/hello" && echo "guest: job folder writable"')
fi
{
  echo '#!/bin/bash'
  # The host's node may live outside the standard PATH (nvm, asdf...).
  printf 'export PATH=%q:"$PATH"\n' "$(dirname "$(command -v node)")"
  while IFS='=' read -r name _; do
    printf 'export %s=%q\n' "$name" "${!name}"
  done < <(env | grep -E '^DMFLAKEY_[A-Z0-9_]*=' | grep -vE '^DMFLAKEY_(JOB_DIR|SCRATCH_DEV)=')
  printf 'cd %q || exit 125\n' "$REPO"
  printf 'exec'
  printf ' %q' "${CMD[@]}"
  echo
} >"$JOB/guest.sh"

# ------------------------------------------------------------------ 5. boot
BOOT=(-kernel "$KDIR/vmlinuz")
if [ -s "$KDIR/vmlinux" ]; then
  BOOT=(-kernel "$KDIR/vmlinux") # PVH entry: no decompression
  for rom in /usr/share/qemu/qboot.rom /usr/share/qboot/bios.bin; do
    if [ -f "$rom" ]; then BOOT+=(-bios "$rom"); break; fi # minimal firmware, faster than SeaBIOS
  done
fi
QEMU=(qemu-system-x86_64 "${ACCEL_ARGS[@]}" -smp "$SMP" -m "$MEM"
  -nodefaults -display none -no-reboot -serial stdio
  "${BOOT[@]}" -initrd "$KDIR/initrd.gz"
  -append "console=ttyS0 panic=-1 loglevel=${DMFLAKEY_LOGLEVEL:-3} dmflakey_job=$JOB"
  -fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
  -fsdev "local,id=job,path=$JOB,security_model=none,multidevs=remap"
  -device virtio-9p-pci,fsdev=job,mount_tag=job
  -drive "file=$JOB/disk.img,if=virtio,format=raw,cache=unsafe")
say "booting ($ACCEL, kernel $KVER, job $JOB)"
B0=$EPOCHREALTIME
set +e
timeout --kill-after=10 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 | while IFS= read -r line; do
  line=${line//$'\r'/}
  if [ "${DMFLAKEY_TIMESTAMPS:-0}" = 1 ]; then
    printf '[vm +%6ss] %s\n' "$(seconds_since "$B0")" "$line"
  else
    printf '%s\n' "$line"
  fi
done | tee "$JOB/console.log"
qemu_rc=${PIPESTATUS[0]}
set -e

rc=
[ -s "$JOB/guest.rc" ] && rc=$(cat "$JOB/guest.rc")
if [ -z "$rc" ]; then
  [ "$qemu_rc" = 124 ] || [ "$qemu_rc" = 137 ] && say "QEMU timed out after ${TIMEOUT}s"
  fail "no exit status came back from the guest (QEMU exit $qemu_rc); console and results kept in $JOB"
fi
say "guest exit status $rc; VM $(seconds_since "$B0")s, total $(seconds_since "$T0")s"
if [ "$rc" = 0 ] && [ "${DMFLAKEY_KEEP_JOB:-}" != 1 ]; then
  rm -rf "$JOB"
else
  say "job folder kept: $JOB"
fi
exit "$rc"
