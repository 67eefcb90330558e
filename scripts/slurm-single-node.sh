#!/usr/bin/env bash
# A real single-node Slurm on this machine, for tests and CI: munge + MariaDB + slurmdbd (so that
# `sacct`, which submitit polls for job states, works) + slurmctld + slurmd, all on 127.0.0.1.
#
#   scripts/slurm-single-node.sh          install (Debian packages, first time only), configure, start
#   scripts/slurm-single-node.sh stop     stop the daemons this script starts
#
# Idempotent and fast when already up: it only writes a config that changed, only starts daemons
# that are not running, and exits as soon as the node accepts jobs. Needs root and Debian/Ubuntu
# (apt). The node gets the machine's CPU count (nproc) and a small memory size, one partition
# `debug`, no GPUs. Daemons run as root without systemd (containers and CI runners have none).
set -euo pipefail

SLURM_MEM_MB=${SLURM_MEM_MB:-2048}          # memory the node offers to jobs (small: the machine is shared)
WAIT_S=${SLURM_WAIT_S:-60}                  # how long to wait for each daemon before failing
ETC=/etc/slurm
LOG=/var/log/slurm
PACKAGES="slurm-wlm slurmdbd munge mariadb-server"
NODE=$(hostname -s)
CPUS=$(nproc)

say() { echo "slurm-single-node: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
wait_for() {  # wait_for DESCRIPTION COMMAND...: poll until COMMAND succeeds or WAIT_S passes
    local what=$1; shift
    for _ in $(seq $((WAIT_S * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
    die "$what did not come up within ${WAIT_S}s (logs: $LOG/, /var/log/munge/)"
}
pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }

stop_all() {
    local pidfile
    for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/slurmdbd.pid /run/mysqld/mysqld.pid \
                   /run/munge/munged.pid; do
        if pid_alive "$pidfile"; then
            kill "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || true
            for _ in $(seq 40); do pid_alive "$pidfile" || break; sleep 0.25; done
        fi
        rm -f "$pidfile"
    done
    # Step daemons of jobs killed mid-step (and slurmd's forks waiting on them) can outlive slurmd.
    local leftover; leftover=$(pgrep -x slurmstepd; pgrep -x slurmd) || true
    [[ -z $leftover ]] || kill -9 $leftover 2>/dev/null || true
}

if [[ ${1:-start} == stop ]]; then stop_all; say "stopped"; exit 0; fi
[[ $(id -u) == 0 ]] || die "run as root (it installs packages and starts system daemons)"

# 1. Packages (only when a binary is missing).
if ! command -v slurmctld slurmd slurmdbd munged mariadbd sbatch sacct >/dev/null 2>&1 \
   || ! [[ -x /usr/sbin/slurmdbd && -x /usr/sbin/mariadbd ]]; then
    command -v apt-get >/dev/null || die "apt-get not found: install $PACKAGES yourself"
    say "installing $PACKAGES"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null || die "apt-get install failed"
fi

# 2. Configuration (rewritten only when it differs; a change restarts the Slurm daemons).
mkdir -p "$ETC" "$LOG" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /run/munge /run/mysqld
chown munge:munge /run/munge; chown mysql:mysql /run/mysqld
changed=0
put_config() {  # put_config PATH MODE < content
    local tmp; tmp=$(mktemp)
    cat >"$tmp"
    if ! cmp -s "$tmp" "$1"; then install -m "$2" "$tmp" "$1"; changed=1; fi
    rm -f "$tmp"
}
put_config "$ETC/slurm.conf" 644 <<EOF
# Written by scripts/slurm-single-node.sh: one node, this machine, on 127.0.0.1.
ClusterName=bench
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
ReturnToService=2
KillWait=5
InactiveLimit=0
MinJobAge=300
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$SLURM_MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
put_config "$ETC/slurmdbd.conf" 600 <<EOF
# Written by scripts/slurm-single-node.sh: accounting for sacct, in the local MariaDB.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=/run/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=slurm
EOF
if [[ $changed == 1 ]]; then
    for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/slurmdbd.pid; do
        if pid_alive "$pidfile"; then kill "$(cat "$pidfile")"; sleep 1; fi
    done
fi

# 3. Daemons, in dependency order; each one only if it is not running yet.
[[ -s /etc/munge/munge.key ]] || { mungekey --create --keyfile /etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged
    wait_for munged sh -c 'munge -n | unmunge'
fi
if ! mariadb-admin ping >/dev/null 2>&1; then
    say "starting mariadb"
    [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql >/dev/null
    setsid /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --innodb-buffer-pool-size=32M \
        --pid-file=/run/mysqld/mysqld.pid >>"$LOG/mariadb.log" 2>&1 </dev/null &
    wait_for mariadb mariadb-admin ping
fi
mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
            CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
if ! pid_alive /run/slurmdbd.pid; then
    say "starting slurmdbd"
    /usr/sbin/slurmdbd
    wait_for slurmdbd sacctmgr -n list cluster
fi
sacctmgr -n list cluster format=cluster | grep -qw bench || sacctmgr -i add cluster bench >/dev/null
if ! pid_alive /run/slurmctld.pid; then
    say "starting slurmctld"
    /usr/sbin/slurmctld
    wait_for slurmctld scontrol ping
fi
if ! pid_alive /run/slurmd.pid; then
    say "starting slurmd"
    /usr/sbin/slurmd
fi
node_idle() { sinfo -h -n "$NODE" -o %T | grep -Eq '^(idle|mixed|allocated)'; }
wait_for "node $NODE" node_idle
sacct -n -X -S now >/dev/null || die "sacct does not answer (logs: $LOG/slurmdbd.log)"
say "up: node $NODE with $CPUS CPUs and ${SLURM_MEM_MB} MB, partition debug; logs in $LOG/"
