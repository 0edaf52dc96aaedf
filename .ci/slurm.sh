#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for the scheduler tests (tests/test_slurm.py) and
# for trying `python train.py -m hydra/launcher=slurm ...` before a real cluster:
#
#   bash .ci/slurm.sh start    # installs slurm-wlm and munge (Debian) when missing; partition "cpu"
#   bash .ci/slurm.sh status   # sinfo
#   bash .ci/slurm.sh stop
#
# Runs as root (it starts munged, slurmctld and slurmd). State, spool and logs live in
# $SLURM_LOCAL_DIR (default /tmp/slurm-local); nothing outside it and /etc/{munge,slurm} is touched.
set -euo pipefail
dir=${SLURM_LOCAL_DIR:-/tmp/slurm-local}
host=$(hostname -s)

install() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null && return
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends slurm-wlm munge >/dev/null; }
}

write_config() {
  mkdir -p "$dir"/{state,spool,log} /etc/slurm
  local memory cpus
  # Twice the cores by default: the test jobs mostly start up and wait, so four share two cores.
  cpus=${SLURM_LOCAL_CPUS:-$(( $(nproc) * 2 ))}
  memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  cat >/etc/slurm/slurm.conf <<EOF
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmdParameters=config_overrides
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown -R munge: /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  pgrep -x munged >/dev/null || munged --force
}

case "${1:-}" in
  start)
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "slurm: already running"; exit 0
    fi
    install
    write_config
    start_munge
    pgrep -x slurmctld >/dev/null || slurmctld
    pgrep -x slurmd >/dev/null || slurmd
    for _ in $(seq 30); do
      if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        echo "slurm: node $host idle in partition cpu"; exit 0
      fi
      scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
      sleep 1
    done
    echo "slurm: the node did not come up; see $dir/log/" >&2
    exit 1
    ;;
  stop)
    pkill -x slurmd 2>/dev/null || true
    pkill -x slurmctld 2>/dev/null || true
    echo "slurm: stopped"
    ;;
  status)
    sinfo
    ;;
  *)
    echo "usage: bash .ci/slurm.sh start|stop|status" >&2
    exit 2
    ;;
esac
