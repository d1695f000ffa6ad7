#!/usr/bin/env bash
# A lab of real libvirt hosts on one machine (root only): each "physical host" is a libvirtd of
# its own in network + mount + UTS namespaces of its own, on a private bridge that exists only
# inside the lab's namespaces, with real qemu VMs (TCG) whose disks live in a shared directory.
#
#   lab.sh up DIR N [VMS_PER_HOST]   bring up hosts hv1..hvN and VMS_PER_HOST tiny VMs on each
#   lab.sh down DIR                  tear everything down (safe to repeat, safe after a failure)
#   lab.sh power-off DIR hvN         its bridge port down, then SIGKILL its libvirtd and qemu
#   lab.sh isolate DIR hvN           bridge port down only: the VMs keep running
#   lab.sh reconnect DIR hvN         bridge port up again
#   lab.sh isolate-client DIR        the client namespace's bridge port down: 3RC there is cut
#                                    off from every host and from the bridge's address
#                                    10.233.7.1 (the lab's witness); reconnect-client DIR
#   lab.sh hang DIR hvN              SIGSTOP its libvirtd (calls hang);  lab.sh unhang DIR hvN
#   lab.sh crash-vm DIR hvN VM       SIGKILL one VM's qemu
#   lab.sh restart-daemon DIR hvN    SIGKILL its libvirtd only and start it again (VMs keep running)
#   lab.sh stop-daemon DIR hvN       SIGKILL its libvirtd only (connections refused, VMs keep running)
#   lab.sh start-daemon DIR hvN      start its libvirtd again
#   lab.sh power-on DIR hvN          start its libvirtd again (VMs stay off, as after a crash)
#   lab.sh running DIR hvN           names of the VMs whose qemu runs on hvN (ground truth)
#   lab.sh power-state DIR hvN       "on" if any live process (not a zombie) runs in hvN, else "off"
#   lab.sh exec DIR CMD...           run a command in the lab's client namespace (reaches hosts by TCP)
#   lab.sh host-exec DIR hvN CMD...  run a command in hvN's network and mount namespaces, where
#                                    its libvirtd and qemu run (a mount made there is seen by the
#                                    VMs started after it, and goes with the host at `down`)
#   lab.sh phys-up DIR IMAGE         a "physical machine" for P2V: an sshd at 10.233.7.50 in a
#                                    namespace of the lab's own, its disk a loop device over a
#                                    copy of IMAGE; prints the loop device. Key: DIR/phys/id_ed25519
#                                    (root, and the namespace-only users labp2v, with sudo, and
#                                    labnosudo, without)
#   lab.sh phys-down DIR             stop it and detach its loop device (down does it too)
#   lab.sh bridge DIR hvN NAME       a bridge NAME inside hvN's namespace (VM NICs plug into it)
#   lab.sh phys-link DIR RATE        shape the physical machine's outgoing link (tc tbf, e.g. 400mbit)
#   lab.sh sup-up DIR N              N "supervisor machines" s1..sN (several supervisors, [ha]):
#                                    each a namespace of its own at 10.233.7.(30+i) on the bridge,
#                                    running a member of one etcd cluster (Debian's etcd-server,
#                                    client URL http://10.233.7.(30+i):2379); prints the URLs
#   lab.sh sup-exec DIR sK CMD...    run a command on supervisor machine sK
#   lab.sh sup-cut DIR sK etcd|hosts sK's own firewall (nftables, in its namespace) drops every
#                                    packet to and from the other supervisor machines (its
#                                    etcd member and its client are cut from the other members:
#                                    etcd without quorum for it) or from the hosts (the witness
#                                    10.233.7.1 still answers); sup-mend DIR sK lifts it
#   lab.sh sup-isolate DIR sK        sK's bridge port down: cut from everything (sup-reconnect)
#   lab.sh sup-etcd DIR sK stop|start  kill sK's etcd member (-9) / start it again
#
# Nothing is added to the machine's own network namespace: hosts are reached through unix
# sockets (qemu+unix) or from the lab's client namespace (qemu+tcp). Every namespace and link is
# named after the lab's id, so `down` removes exactly what `up` made.
set -eEuo pipefail

die() { echo "lab: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, libvirtd)"

cmd=${1:-}; DIR=${2:-}
[ -n "$cmd" ] && [ -n "$DIR" ] || die "usage: lab.sh up|down|power-off|isolate|reconnect|hang|unhang|crash-vm|restart-daemon|stop-daemon|start-daemon|power-on|running|exec DIR ..."

SUBNET=10.233.7      # exists only inside the lab's namespaces

env_file() { echo "$DIR/lab.env"; }
load() { [ -f "$(env_file)" ] || die "$DIR is not a lab (no lab.env)"; . "$(env_file)"; }
ns() { echo "${ID}-$1"; }              # namespace of a host
port() { echo "${ID}p${1#hv}"; }        # its port on the bridge (<= 15 chars)

host_addr() { echo "$SUBNET.$((10 + ${1#hv}))"; }
sup_addr() { echo "$SUBNET.$((30 + ${1#s}))"; }
sup_port() { echo "${ID}s${1#s}"; }

write_conf() {
  local h=$1 dir=$DIR/hosts/$1 addr; addr=$(host_addr "$h")
  mkdir -p "$dir"/{etc,run,lib,cache,log}
  cat > "$dir/etc/libvirtd.conf" <<EOF
listen_tls = 0
listen_tcp = 1
listen_addr = "$addr"
auth_tcp = "none"
auth_unix_rw = "none"
unix_sock_group = "root"
host_uuid = "3c0e1ab0-0000-4000-8000-0000000000$(printf %02d "${h#hv}")"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
keepalive_interval = 2
keepalive_count = 2
EOF
  cat > "$dir/etc/qemu.conf" <<EOF
user = "root"
group = "root"
security_driver = "none"
stdio_handler = "file"
migration_address = "$addr"
migration_host = "$addr"
EOF
}

start_daemon() {
  local h=$1 dir=$DIR/hosts/$1
  rm -f "$dir/libvirtd.pid" "$dir/run/libvirt-sock"
  # Shared warm qemu capability cache: the first start on a fresh daemon probes qemu (~4 s).
  if [ -d "$DIR/qemu-cache" ] && [ ! -d "$dir/cache/qemu" ]; then cp -a "$DIR/qemu-cache" "$dir/cache/qemu"; fi
  ip netns exec "$(ns "$h")" unshare -m -u --propagation private sh -c "
    mount --bind '$dir/etc' /etc/libvirt &&
    mount --bind '$dir/run' /run/libvirt &&
    mount --bind '$dir/lib' /var/lib/libvirt &&
    mount --bind '$dir/cache' /var/cache/libvirt &&
    mount --bind '$dir/log' /var/log/libvirt &&
    hostname '$h' &&
    exec libvirtd --daemon --listen --pid-file '$dir/libvirtd.pid'"
  for _ in $(seq 100); do [ -S "$dir/run/libvirt-sock" ] && return 0; sleep 0.05; done
  die "$h: libvirtd did not start (see $dir/log/libvirtd.log)"
}

# Kill a host's libvirtd (its VMs' qemu run on; connections to it are then refused).
stop_daemon() {
  local pid; pid=$(cat "$DIR/hosts/$1/libvirtd.pid")
  kill -9 "$pid"
  # Dead once gone or a zombie (an init that reaps late would otherwise hold this up).
  for _ in $(seq 100); do
    [ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo gone)" = "Z" ] && break
    kill -0 "$pid" 2>/dev/null || break; sleep 0.02
  done
}

# What a lab needs outside its folder and namespaces, shared by every lab on the machine and
# kept when the labs go down (README, "A lab of real libvirt hosts"): the `kvm` and
# `libvirt-qemu` groups and the `libvirt-qemu` user (libvirtd refuses to start without them;
# Debian's libvirt-daemon-system makes them, the lab does not need that package), and the
# mount points /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and
# /var/log/libvirt that each host's own folders are bind-mounted over. Several labs come up at
# once (the tests run in parallel), so this runs under the machine-wide lab lock and every step
# also accepts "already there".
machine_setup() {
  groupadd -f -r kvm
  groupadd -f -r libvirt-qemu
  if ! id libvirt-qemu >/dev/null 2>&1; then
    local rc=0
    useradd -r -g kvm -s /usr/sbin/nologin libvirt-qemu || rc=$?
    # 9: the name is taken, by a lab that made it meanwhile outside this lock (an older lab.sh).
    [ "$rc" -eq 0 ] || [ "$rc" -eq 9 ] || die "useradd libvirt-qemu failed (exit $rc)"
  fi
  mkdir -p /etc/libvirt /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt
}

# The machine-wide lab lock: flock on this script itself (read-only, so the lock adds no file
# anywhere). Held while a lab makes what labs share (machine_setup, /etc/netns) and picks its id.
machine_lock() { exec 9<"${BASH_SOURCE[0]}"; flock 9; }
machine_unlock() { flock -u 9; exec 9<&-; }

# A new namespace NS on the lab's bridge: its eth0 (MAC 02:3c:00:00:00:<LAST in hex>, address
# ADDR/24) is a veth whose peer PORT is a port of the bridge.
plug() {
  local n=$1 p=$2 last=$3 addr=$4
  ip netns add "$n"
  ip link add "$p" type veth peer name eth0 netns "$n"
  ip link set "$p" netns "$(ns br)"
  ip -n "$(ns br)" link set "$p" master br0 up
  ip -n "$n" link set lo up
  ip -n "$n" link set eth0 address "02:3c:00:00:00:$(printf %02x "$last")"
  ip -n "$n" addr add "$addr/24" dev eth0
  ip -n "$n" link set eth0 up
}

virsh_h() { local h=$1; shift; virsh -q -c "qemu+unix:///system?socket=$DIR/hosts/$h/run/libvirt-sock" "$@"; }

vm_xml() { # name disk
  cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='$2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'><source path='$DIR/shared/$1.serial'/></serial>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

up() {
  local n=${3:-} per=${4:-2}
  [ -n "$n" ] || die "usage: lab.sh up DIR N [VMS_PER_HOST]"
  [ -e "$(env_file)" ] && die "$DIR already holds a lab: lab.sh down $DIR first"
  mkdir -p "$DIR/shared" "$DIR/hosts"
  machine_lock
  machine_setup
  # A lab id no other lab uses: `ip netns add` refuses a name that exists, so the first free
  # one wins even without the lock.
  local tries=0
  while :; do
    ID="3rl$(printf %04x $(( (RANDOM * 2 + RANDOM % 2) % 65536 )))"
    ip netns add "$(ns br)" 2>/dev/null && break
    tries=$((tries + 1)); [ "$tries" -lt 50 ] || die "no free lab id (ip netns add ${ID}-br failed 50 times)"
  done
  machine_unlock
  printf 'ID=%s\nN=%s\n' "$ID" "$n" > "$(env_file)"
  # Whatever fails from here on, nothing is left behind.
  trap 'if [ -z "${LAB_UP_OK:-}" ]; then echo "lab: up failed, tearing down" >&2; down_quiet; fi' EXIT
  ip -n "$(ns br)" link add br0 type bridge
  ip -n "$(ns br)" link set br0 up
  # The bridge's own address: the lab's "gateway", a quorum witness for 3RC in the client namespace.
  ip -n "$(ns br)" addr add "$SUBNET.1/24" dev br0
  # The client namespace: where a supervisor runs to reach the hosts over TCP.
  plug "$(ns cl)" "${ID}pc" 2 "$SUBNET.2"
  qemu-img create -q -f qcow2 "$DIR/shared/golden.qcow2" 64M
  for i in $(seq 1 "$n"); do
    local h=hv$i
    plug "$(ns "$h")" "$(port "$h")" "$((16 + i))" "$(host_addr "$h")"
    write_conf "$h"
    start_daemon "$h"
    for j in $(seq 1 "$per"); do
      local vm="vm$i$j" disk="$DIR/shared/vm$i$j.qcow2"
      qemu-img create -q -f qcow2 -F qcow2 -b "$DIR/shared/golden.qcow2" "$disk"
      vm_xml "$vm" "$disk" > "$DIR/shared/$vm.xml"
      virsh_h "$h" define "$DIR/shared/$vm.xml" >/dev/null
      virsh_h "$h" start "$vm" >/dev/null
    done
    if [ ! -d "$DIR/qemu-cache" ] && [ -d "$DIR/hosts/$h/cache/qemu" ]; then cp -a "$DIR/hosts/$h/cache/qemu" "$DIR/qemu-cache"; fi
  done
  # The shared directory is a storage pool on every host: placement checks VMs' disks there.
  for i in $(seq 1 "$n"); do
    virsh_h "hv$i" pool-define-as shared dir --target "$DIR/shared" >/dev/null
    virsh_h "hv$i" pool-start shared >/dev/null
  done
  LAB_UP_OK=1
  echo "lab $ID up in $DIR: $n hosts, $per VMs each"
}

# Supervisor machines: a namespace each on the bridge, running an etcd member. Every member is
# started before any is waited for (a member waits for a quorum of its peers to come up).
sup_up() {
  local n=${3:?usage: lab.sh sup-up DIR N} i cluster="" urls=""
  load
  [ -z "${S:-}" ] || die "$DIR already has supervisor machines"
  echo "S=$n" >> "$(env_file)"; S=$n
  for i in $(seq 1 "$n"); do cluster="$cluster${cluster:+,}s$i=http://$(sup_addr "s$i"):2380"; done
  for i in $(seq 1 "$n"); do
    local s=s$i addr; addr=$(sup_addr "s$i")
    local d=$DIR/sup/$s
    mkdir -p "$d"
    plug "$(ns "$s")" "$(sup_port "$s")" "$((48 + i))" "$addr"
    printf '%s\n' --name "$s" --data-dir "$d/etcd" \
      --listen-client-urls "http://$addr:2379" --advertise-client-urls "http://$addr:2379" \
      --listen-peer-urls "http://$addr:2380" --initial-advertise-peer-urls "http://$addr:2380" \
      --initial-cluster "$cluster" --initial-cluster-token "$ID" --initial-cluster-state new --pre-vote \
      > "$d/etcd.args"
    etcd_start "$s"
    urls="$urls${urls:+,}http://$addr:2379"
  done
  local ok=""
  for _ in $(seq 300); do
    if ip netns exec "$(ns s1)" etcdctl --endpoints "$urls" --command-timeout=1s endpoint health >/dev/null 2>&1; then
      ok=1; break
    fi
    sleep 0.1
  done
  [ -n "$ok" ] || die "etcd did not become healthy on $urls (see $DIR/sup/s*/etcd.log)"
  echo "$urls"
}

# sK's etcd member, in the background, with the arguments sup-up wrote (a member started again
# finds its data directory and ignores the initial-cluster ones).
etcd_start() {
  local d=$DIR/sup/$1
  mapfile -t args < "$d/etcd.args"
  ip netns exec "$(ns "$1")" setsid -f etcd "${args[@]}" >> "$d/etcd.log" 2>&1 < /dev/null
}

etcd_stop() {
  local p
  for p in $(ip netns pids "$(ns "$1")" 2>/dev/null); do
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = etcd ] && kill -9 "$p"
  done
  return 0
}

# sK's own firewall: a table of its own in its namespace, dropping what is cut.
sup_cut() {
  local s=${3:?sK} what=${4:?etcd or hosts} addrs="" i
  load
  case "$what" in
    etcd) for i in $(seq 1 "$S"); do [ "s$i" = "$s" ] || addrs="$addrs${addrs:+, }$(sup_addr "s$i")"; done ;;
    hosts) for i in $(seq 1 "$N"); do addrs="$addrs${addrs:+, }$(host_addr "hv$i")"; done ;;
    *) die "sup-cut: etcd or hosts, not $what" ;;
  esac
  ip netns exec "$(ns "$s")" nft -f - <<EOF
table inet lab_cut_$what {
  chain input { type filter hook input priority 0; ip saddr { $addrs } drop; }
  chain output { type filter hook output priority 0; ip daddr { $addrs } drop; }
}
EOF
}

sup_mend() {
  local s=${3:?sK} t
  load
  for t in etcd hosts; do ip netns exec "$(ns "$s")" nft delete table inet "lab_cut_$t" 2>/dev/null || true; done
}

PHYS_ADDR=$SUBNET.50

phys_up() {
  local image=${3:?usage: lab.sh phys-up DIR IMAGE} p=$DIR/phys
  load
  [ -e "$p/loop" ] && die "$DIR already has a physical machine: lab.sh phys-down $DIR first"
  mkdir -p "$p"
  cp --sparse=always "$image" "$p/disk.img"
  losetup -f --show "$p/disk.img" > "$p/loop"
  plug "$(ns ph)" "${ID}pp" 80 "$PHYS_ADDR"
  [ -f "$p/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$p/id_ed25519"
  [ -f "$p/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$p/host_key"
  cp "$p/id_ed25519.pub" "$p/authorized_keys"
  printf '%s\n' "ListenAddress $PHYS_ADDR" "HostKey $p/host_key" "AuthorizedKeysFile $p/authorized_keys" \
    "PermitRootLogin prohibit-password" "PasswordAuthentication no" "KbdInteractiveAuthentication no" \
    "UsePAM no" "StrictModes no" "PidFile $p/sshd.pid" > "$p/sshd_config"
  phys_accounts
  mkdir -p /run/sshd   # sshd's privilege separation directory (openssh-server's own)
  ip netns exec "$(ns ph)" /usr/sbin/sshd -f "$p/sshd_config" -E "$p/sshd.log"
  for _ in $(seq 100); do [ -s "$p/sshd.pid" ] && { cat "$p/loop"; return 0; }; sleep 0.05; done
  die "sshd did not start (see $p/sshd.log)"
}

# Two unprivileged accounts that exist only for processes started by `ip netns exec` in the
# physical machine's namespace (it bind-mounts /etc/netns/NS/* over /etc/*): `labp2v`, whom sudo
# lets do anything without a password, and `labnosudo`, whom sudo lets do nothing. The machine's
# own account files are not touched; the shadow file is made anew (no password hashes copied).
phys_accounts() {
  local e=/etc/netns/$(ns ph) name
  # /etc/netns is shared by every lab (phys_down of another lab removes it when it is empty).
  machine_lock
  rm -rf "$e"; mkdir -p "$e/sudoers.d"
  machine_unlock
  cp /etc/passwd "$e/passwd"; cp /etc/group "$e/group"
  printf '%s\n' "labp2v:x:60871:60871:3RC lab P2V user:/nonexistent:/bin/sh" \
    "labnosudo:x:60872:60872:3RC lab user without sudo:/nonexistent:/bin/sh" >> "$e/passwd"
  printf '%s\n' "labp2v:x:60871:" "labnosudo:x:60872:" >> "$e/group"
  : > "$e/shadow"
  while IFS=: read -r name _; do echo "$name:*:19000:0:99999:7:::" >> "$e/shadow"; done < "$e/passwd"
  chmod 0640 "$e/shadow"; chgrp shadow "$e/shadow" 2>/dev/null || true
  echo "labp2v ALL=(root) NOPASSWD: ALL" > "$e/sudoers.d/labp2v"
  chmod 0440 "$e/sudoers.d/labp2v"
}

phys_down() {
  local p=$DIR/phys pids
  pids=$(ip netns pids "$(ns ph)" 2>/dev/null || true)
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  ip netns del "$(ns ph)" 2>/dev/null || true
  machine_lock
  rm -rf "/etc/netns/$(ns ph)"; rmdir /etc/netns 2>/dev/null || true
  machine_unlock
  if [ -s "$p/loop" ]; then losetup -d "$(cat "$p/loop")" 2>/dev/null || true; fi
  rm -f "$p/loop" "$p/sshd.pid"
  return 0
}

host_pids() { ip netns pids "$(ns "$1")" 2>/dev/null || true; }

# Killed processes can linger as zombies until their parent reaps them: they run nothing.
live_pids() {
  local p
  for p in $(host_pids "$1"); do
    [ "$(awk '/^State:/ {print $2}' "/proc/$p/status" 2>/dev/null)" = "Z" ] || echo "$p"
  done
}

down_quiet() {
  [ -f "$(env_file)" ] || return 0
  . "$(env_file)"
  phys_down
  for i in $(seq 1 "${N:-0}"); do
    local pids; pids=$(host_pids "hv$i")
    [ -n "$pids" ] && kill -CONT $pids 2>/dev/null; [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  done
  local pids; pids=$(ip netns pids "$(ns cl)" 2>/dev/null || true)
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  for i in $(seq 1 "${S:-0}"); do
    pids=$(ip netns pids "$(ns "s$i")" 2>/dev/null || true)
    [ -n "$pids" ] && kill -CONT $pids 2>/dev/null; [ -n "$pids" ] && kill -9 $pids 2>/dev/null
  done
  sleep 0.2
  for i in $(seq 1 "${S:-0}"); do ip netns del "$(ns "s$i")" 2>/dev/null || true; done
  for i in $(seq 1 "${N:-0}"); do ip netns del "$(ns "hv$i")" 2>/dev/null || true; done
  ip netns del "$(ns cl)" 2>/dev/null || true
  ip netns del "$(ns br)" 2>/dev/null || true
  rm -f "$(env_file)"
  return 0
}

case "$cmd" in
  up) up "$@" ;;
  down) down_quiet; echo "lab in $DIR down" ;;
  power-off)
    # Silence first, as a power loss: the link goes down, then everything on the host dies
    # (killing first would let 3RC see its connections closed and new ones refused, which is
    # a live host whose daemon died, not a dead host).
    load; h=${3:?host}; pids=$(host_pids "$h")
    ip -n "$(ns br)" link set "$(port "$h")" down
    if [ -n "$pids" ]; then kill -9 $pids; fi ;;
  isolate) load; ip -n "$(ns br)" link set "$(port "${3:?host}")" down ;;
  isolate-client) load; ip -n "$(ns br)" link set "${ID}pc" down ;;
  reconnect-client) load; ip -n "$(ns br)" link set "${ID}pc" up ;;
  reconnect) load; ip -n "$(ns br)" link set "$(port "${3:?host}")" up ;;
  hang) load; kill -STOP "$(cat "$DIR/hosts/${3:?host}/libvirtd.pid")" ;;
  unhang) load; kill -CONT "$(cat "$DIR/hosts/${3:?host}/libvirtd.pid")" ;;
  crash-vm)
    load; h=${3:?host}; vm=${4:?vm}
    pid=$(cat "$DIR/hosts/$h/run/qemu/$vm.pid" 2>/dev/null) || die "$vm does not run on $h"
    kill -9 "$pid" ;;
  restart-daemon) load; h=${3:?host}; stop_daemon "$h"; start_daemon "$h" ;;
  stop-daemon) load; stop_daemon "${3:?host}" ;;
  start-daemon) load; start_daemon "${3:?host}" ;;
  power-on) load; h=${3:?host}; ip -n "$(ns br)" link set "$(port "$h")" up; start_daemon "$h" ;;
  power-state)
    # A namespace that cannot be read is an error, not a host that is off.
    load; h=${3:?host}; ip netns pids "$(ns "$h")" >/dev/null || die "cannot read $h's processes"
    if [ -n "$(live_pids "$h")" ]; then echo on; else echo off; fi ;;
  running)
    load; h=${3:?host}
    for p in $(live_pids "$h"); do
      { tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -o -- '-name guest=[^, ]*' | sed 's/-name guest=//'; } || true
    done | sort ;;
  exec) load; shift 2; exec ip netns exec "$(ns cl)" "$@" ;;
  host-exec)
    load; h=${3:?host}; shift 3
    exec nsenter --target "$(cat "$DIR/hosts/$h/libvirtd.pid")" --mount --net --uts -- "$@" ;;
  sup-up) sup_up "$@" ;;
  sup-exec) load; s=${3:?sK}; shift 3; exec ip netns exec "$(ns "$s")" "$@" ;;
  sup-cut) sup_cut "$@" ;;
  sup-mend) sup_mend "$@" ;;
  sup-etcd)
    load; s=${3:?sK}
    case "${4:-}" in stop) etcd_stop "$s" ;; start) etcd_start "$s" ;; *) die "sup-etcd: stop or start" ;; esac ;;
  sup-isolate) load; ip -n "$(ns br)" link set "$(sup_port "${3:?sK}")" down ;;
  sup-reconnect) load; ip -n "$(ns br)" link set "$(sup_port "${3:?sK}")" up ;;
  phys-up) phys_up "$@" ;;
  phys-down) load; phys_down ;;
  phys-link)
    load; rate=${3:?rate, e.g. 400mbit}
    ip netns exec "$(ns ph)" tc qdisc replace dev eth0 root tbf rate "$rate" burst 256kb latency 100ms ;;
  bridge)
    load; h=${3:?host}; b=${4:?bridge name}
    ip -n "$(ns "$h")" link add "$b" type bridge && ip -n "$(ns "$h")" link set "$b" up ;;
  *) die "unknown command $cmd" ;;
esac
