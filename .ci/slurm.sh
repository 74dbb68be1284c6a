#!/usr/bin/env bash
# A real single-node SLURM for tests/test_slurm.py: this host (`hostname -s`) is the only
# node, with its real CPU count and memory, in one default partition "debug".
#
# Installs Debian's slurmctld, slurmd, slurm-client and munge if they are missing, writes
# /etc/slurm/slurm.conf, creates the munge key if there is none, starts munged, slurmctld
# and slurmd (no systemd needed) and waits until `sinfo` shows the node up.  Safe to run
# twice: running daemons with an unchanged config are left alone.  Needs root.
#
#   bash .ci/slurm.sh             # SLURM_WAIT=seconds (default 90) bounds the wait
set -euo pipefail

WAIT="${SLURM_WAIT:-90}"
CONF=/etc/slurm/slurm.conf
LOG=/var/log/slurm
STATE=/var/lib/slurm
say() { echo "dcproj slurm: $*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons)"

install_packages() {
  local need=() pkg
  for pkg in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
  done
  [ ${#need[@]} -eq 0 ] && return 0
  say "installing ${need[*]}"
  # the packages' own service start would fail (no config yet, maybe no init): deny it while installing
  local policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy"
  fi
  local rc=0 log
  log="$(mktemp)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"; } \
    > "$log" 2>&1 || rc=$?
  [ -n "$policy" ] && rm -f "$policy"
  [ $rc -eq 0 ] || { tail -n 20 "$log" >&2; die "apt-get install ${need[*]} failed (exit $rc; full log in $log)"; }
  rm -f "$log"
}

write_conf() {
  # prints "changed" when the config file was (re)written
  local host node tmp
  host="$(hostname -s)"
  # slurmd -C reports this machine as a NodeName line: CPUs, sockets, cores, threads, RealMemory
  node="$(slurmd -C | grep '^NodeName=')" || die "slurmd -C could not describe this machine"
  tmp="$(mktemp)"
  cat > "$tmp" <<EOF
# written by dcproj .ci/slurm.sh: a single-node cluster for the test suite
ClusterName=dcproj-ci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=${STATE}/slurmctld
SlurmdSpoolDir=${STATE}/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=${LOG}/slurmctld.log
SlurmdLogFile=${LOG}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
KillWait=5
MinJobAge=30
SlurmdTimeout=60
${node% UpTime=*} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
  if [ -f "$CONF" ] && cmp -s "$tmp" "$CONF"; then
    rm -f "$tmp"
  else
    install -m 644 "$tmp" "$CONF" && rm -f "$tmp"
    echo changed
  fi
}

alive() { # alive PIDFILE: the daemon of that pid file runs (not another process that got its pid)
  [ -s "$1" ] && [ "$(cat "/proc/$(cat "$1")/comm" 2>/dev/null)" = "$(basename "$1" .pid)" ]
}

stop() { # stop PIDFILE: end that daemon (by its own pid) and wait for it
  alive "$1" || return 0
  local pid i
  pid="$(cat "$1")"
  kill "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

start_munge() {
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating the munge key"
    mungekey --create --force 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 755 /run/munge
  install -d -o munge -g munge -m 700 /var/log/munge /var/lib/munge
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    local i
    for i in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0; sleep 0.2; done
    die "munged did not start (see /var/log/munge/munged.log)"
  fi
}

node_state() { sinfo -h -n "$(hostname -s)" -o %t 2>/dev/null | head -1 || true; }

main() {
  install_packages
  install -d -m 755 "$LOG" "$STATE/slurmctld" "$STATE/slurmd"
  local changed
  changed="$(write_conf)"
  start_munge
  if [ -n "$changed" ]; then  # a new config: daemons started with the old one go
    stop /run/slurmd.pid
    stop /run/slurmctld.pid
  fi
  alive /run/slurmctld.pid || slurmctld || die "slurmctld did not start (see $LOG/slurmctld.log)"
  alive /run/slurmd.pid || slurmd || die "slurmd did not start (see $LOG/slurmd.log)"
  local t=0 state=""
  while [ "$t" -lt "$WAIT" ]; do
    state="$(node_state)"
    case "$state" in
      idle|mix|alloc|comp)
        # a partition left DOWN (e.g. by a test that was killed) takes no jobs: open it again
        [ "$(sinfo -h -p debug -o %a 2>/dev/null)" = up ] || scontrol update PartitionName=debug State=UP
        say "node $(hostname -s) is $state; sinfo:"; sinfo >&2; return 0 ;;
      down*|drain*|drng) scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
    t=$((t + 1))
  done
  die "node $(hostname -s) not up after ${WAIT}s (state: ${state:-no answer from slurmctld}); see $LOG/slurmctld.log and $LOG/slurmd.log"
}

main "$@"
