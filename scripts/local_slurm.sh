#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the test suite and for trying the submitit launcher:
#   scripts/local_slurm.sh up       install slurmctld/slurmd/munge if missing, write slurm.conf, start the daemons
#   scripts/local_slurm.sh status   what runs, and the node's state
#   scripts/local_slurm.sh down     stop exactly the daemons `up` started (by pid)
# Needs root (it writes /etc/slurm/slurm.conf and may apt-get install). Idempotent: `up` twice starts nothing new;
# a fresh `up` starts with an empty queue.
# State, logs and pid files live in $LOCAL_SLURM_DIR (default /tmp/streetseg-slurm).
set -euo pipefail

DIR=${LOCAL_SLURM_DIR:-/tmp/streetseg-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by streetseg scripts/local_slurm.sh"
PARTITION=${LOCAL_SLURM_PARTITION:-debug}
PIDS=$DIR/started.pids  # "name pid" of each daemon this script started

say() { echo "local_slurm: $*" >&2; }
die() { say "$*"; exit 1; }
alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
ours() { alive "$2" && [[ $(cat "/proc/$2/comm" 2>/dev/null) == "$1" ]]; }  # name pid: still that daemon

install_packages() {
  local missing=()
  for cmd in munged:munge slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client; do
    command -v "${cmd%%:*}" >/dev/null 2>&1 || missing+=("${cmd##*:}")
  done
  ((${#missing[@]} == 0)) && return
  [[ $(id -u) == 0 ]] || die "missing ${missing[*]}: run as root so that apt-get can install them"
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

write_config() {
  [[ -f $CONF ]] && ! grep -qF "$MARK" "$CONF" && die "$CONF exists and is not ours: refusing to overwrite a real cluster's config"
  local host node mem_mb
  host=$(hostname -s)
  # The node as slurmd sees it (CPUs, sockets, cores, threads, memory), less 5% memory so it never drains as "low".
  node=$(slurmd -C | head -1 | sed -E 's/ RealMemory=[0-9]+//')
  mem_mb=$(($(slurmd -C | head -1 | sed -E 's/.*RealMemory=([0-9]+).*/\1/') * 95 / 100))
  mkdir -p "$DIR/state" "$DIR/spool" /etc/slurm
  cat >"$CONF" <<CONF
$MARK: one node, one partition ($PARTITION); see README "Scaling out"
ClusterName=streetseg
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
# No cgroups or accounting database: processes are tracked by parent pid, sacct is unavailable.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
# Cores are the consumable resource; a job asking for more memory than the node has is refused at submission.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
# Refuse at submission what the partition can never run, as most production clusters do.
EnforcePartLimits=ALL
KillWait=10
MinJobAge=600
SchedulerParameters=sched_interval=2
$node RealMemory=$mem_mb NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

munge_answers() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  munge_answers && return  # a munged already runs (this script's or the machine's): leave it be
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  [[ -f /etc/munge/munge.key ]] || mungekey --create --keyfile=/etc/munge/munge.key
  chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
  chmod 0700 /etc/munge
  chmod 0400 /etc/munge/munge.key
  rm -f /run/munge/munged.pid  # a dead munged's
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge_answers && break; sleep 0.1; done
  munge_answers || die "munged did not start; see /var/log/munge/munged.log"
  echo "munged $(cat /run/munge/munged.pid)" >>"$PIDS"
}

start_daemon() {  # name [flags]: slurmctld or slurmd; it writes its pid file in $DIR
  local name=$1 pidfile=$DIR/$1.pid
  ours "$name" "$(cat "$pidfile" 2>/dev/null)" && return
  rm -f "$pidfile"  # a dead daemon's: its pid may belong to another process by now
  "/usr/sbin/$name" "${@:2}"
  for _ in $(seq 100); do ours "$name" "$(cat "$pidfile" 2>/dev/null)" && break; sleep 0.1; done
  ours "$name" "$(cat "$pidfile" 2>/dev/null)" || die "$name did not start; see $DIR/$name.log"
  echo "$name $(cat "$pidfile")" >>"$PIDS"
}

node_state() { sinfo -h -p "$PARTITION" -o %t 2>/dev/null | head -1 || true; }

up() {
  install_packages
  mkdir -p "$DIR"
  forget_dead
  write_config
  start_munge
  start_daemon slurmctld -c  # -c: an empty queue, not the jobs of an earlier cluster on this machine
  start_daemon slurmd
  local state=""
  for _ in $(seq 120); do
    state=$(node_state)
    [[ $state == idle || $state == mix || $state == alloc ]] && break
    [[ $state == down* || $state == drain* ]] && scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true
    sleep 0.5
  done
  [[ $state == idle || $state == mix || $state == alloc ]] || die "the node is '${state:-unknown}', not idle, after 60 s; see $DIR/slurmd.log and $DIR/slurmctld.log"
  say "up: partition $PARTITION, node $(hostname -s) $state ($(sinfo -h -o '%c CPUs, %m MB'))"
}

forget_dead() {  # drop the pid lines of daemons that are gone (a reboot, a killed session): pids get reused
  [[ -f $PIDS ]] || return 0
  local keep
  keep=$(while read -r name pid; do if ours "$name" "$pid"; then echo "$name $pid"; fi; done <"$PIDS")
  if [[ -n $keep ]]; then echo "$keep" >"$PIDS"; else rm -f "$PIDS"; fi
}

down() {
  [[ -f $PIDS ]] || { say "nothing started by this script is running"; return; }
  # In reverse order of start: slurmd, slurmctld, then munged (only if this script started it).
  tac "$PIDS" | while read -r name pid; do
    if ours "$name" "$pid"; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
      if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
      say "stopped $name ($pid)"
    fi
  done
  rm -f "$PIDS"
}

status() {
  local any=0
  if [[ -f $PIDS ]]; then
    while read -r name pid; do
      if ours "$name" "$pid"; then echo "$name running (pid $pid)"; any=1; else echo "$name not running (was pid $pid)"; fi
    done <"$PIDS"
  fi
  if [[ $any == 1 ]] && sinfo >/dev/null 2>&1; then sinfo; else echo "no cluster started by this script is up"; return 1; fi
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
