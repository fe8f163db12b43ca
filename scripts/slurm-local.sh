#!/usr/bin/env bash
# slurm-local.sh start|stop|status -- a throw-away, single-node SLURM cluster on localhost, for CI and for
# trying `launcher=slurm` on a workstation. Debian 12 (slurm-wlm 22.05, munge, MariaDB), run as root; works
# without systemd (the daemons are started by hand).
#
#   sudo bash scripts/slurm-local.sh start    # install what is missing, start the daemons, wait for an idle node
#   sudo bash scripts/slurm-local.sh status   # sinfo + the daemons this script started
#   sudo bash scripts/slurm-local.sh stop     # cancel every job, stop ONLY the daemons `start` started (by PID)
#
# All state (spool, logs, PID files, the accounting database, fake GPU devices) lives in $SLURM_LOCAL_DIR and is
# wiped on every start, so each start is a fresh cluster -- and job ids restart at 1: give every submitit run a
# fresh folder (a new hydra.sweep.dir), or submitit may return the result of an older job with the same id.
#
# Knobs (environment variables, defaults in brackets):
#   SLURM_LOCAL_DIR [/tmp/slurm-local]    state directory (wiped on start)
#   SLURM_LOCAL_CONF_DIR [/etc/slurm]     where slurm.conf goes; anything else needs SLURM_CONF=<dir>/slurm.conf
#                                         in every client (sbatch, squeue, sacct, submitit)
#   SLURM_LOCAL_ACCOUNTING [1]            slurmdbd + a private MariaDB. Keep it on: without accounting `sacct`
#                                         fails, submitit cannot see job states and waits forever on a killed job
#   SLURM_LOCAL_FAKE_GPUS [2]             gres/gpu entries backed by /dev/null (0: no GRES)
#   SLURM_LOCAL_CPUS, SLURM_LOCAL_MEM_MB  default: the real CPU count and 90% of the memory; more CPUs than the
#                                         machine has over-commits the node (more 1-CPU jobs at once)
#   SLURM_LOCAL_PARTITION [debug]  SLURM_LOCAL_CLUSTER [localci]  SLURM_LOCAL_DB_PORT [3306]
#   SLURM_LOCAL_CRED_EXPIRE [10]          a requeued job may start again only after this many seconds (SLURM: 120)
#   SLURM_LOCAL_FIRST_JOB_ID [1]          SLURM_LOCAL_INSTALL [1] (0: never call apt-get)
#   SLURM_LOCAL_PURGE [0]                 stop: 1 also deletes $SLURM_LOCAL_DIR
set -euo pipefail

D=${SLURM_LOCAL_DIR:-/tmp/slurm-local}
CONF_DIR=${SLURM_LOCAL_CONF_DIR:-/etc/slurm}
ACCOUNTING=${SLURM_LOCAL_ACCOUNTING:-1}
FAKE_GPUS=${SLURM_LOCAL_FAKE_GPUS:-2}
PARTITION=${SLURM_LOCAL_PARTITION:-debug}
CLUSTER=${SLURM_LOCAL_CLUSTER:-localci}
CRED_EXPIRE=${SLURM_LOCAL_CRED_EXPIRE:-10}
DB_PORT=${SLURM_LOCAL_DB_PORT:-3306}
INSTALL=${SLURM_LOCAL_INSTALL:-1}
FIRST_JOB_ID=${SLURM_LOCAL_FIRST_JOB_ID:-1}
PIDS="$D/run/started.pids"
export SLURM_CONF="$CONF_DIR/slurm.conf"
T0=$(date +%s.%N)

log() { printf '[slurm-local %5.1fs] %s\n' "$(awk "BEGIN{print $(date +%s.%N) - $T0}")" "$*"; }
die() { log "ERROR: $*"; exit 1; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
wait_for() {  # wait_for SECONDS WHAT COMMAND...
    local secs=$1 what=$2; shift 2
    local end=$(( $(date +%s) + secs ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || die "timed out after ${secs}s waiting for $what"
        sleep 0.2
    done
}

# ------------------------------------------------------------------------------------------------ start
install_packages() {
    local pkgs=(slurmctld slurmd slurm-client munge) missing=() p
    [ "$ACCOUNTING" = 1 ] && pkgs+=(slurmdbd mariadb-server)
    for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return
    [ "$INSTALL" = 1 ] || die "missing packages: ${missing[*]} (SLURM_LOCAL_INSTALL=0)"
    log "apt-get install ${missing[*]}"
    # The postinst scripts try to start the services and are refused without systemd ("policy-rc.d denied
    # execution of start"): harmless, they are started below. --no-install-recommends: ~8 packages, not 43.
    export DEBIAN_FRONTEND=noninteractive
    [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ] || apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}

start_munge() {
    if [ ! -s /etc/munge/munge.key ]; then   # normally created by the munge postinst
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
    fi
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        log "munged already running: using it (and not stopping it later)"
        return
    fi
    # /run/munge is normally made by the systemd unit (RuntimeDirectory=munge)
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge; chmod 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged          # forks; writes /run/munge/munged.pid
    wait_for 10 "munged" bash -c 'munge -n | unmunge'
    record munged "$(cat /run/munge/munged.pid)"
    log "munged started (pid $(cat /run/munge/munged.pid))"
}

write_slurm_conf() {
    local hw real_cpus real_mem cpus mem node_hw overrides="" gres_node="" gres_types="" acct i
    hw=$(slurmd -C | head -1)    # e.g. NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ... RealMemory=24105
    real_cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$hw")
    real_mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
    cpus=${SLURM_LOCAL_CPUS:-$real_cpus}
    mem=${SLURM_LOCAL_MEM_MB:-$(( real_mem * 9 / 10 ))}     # more than the real memory drains the node
    if [ "$cpus" = "$real_cpus" ] && [ "$mem" -le "$real_mem" ]; then
        node_hw=$(sed -e 's/^NodeName=[^ ]* //' -e 's/ RealMemory=.*//' <<<"$hw")
    else
        node_hw="CPUs=$cpus"; overrides="SlurmdParameters=config_overrides"
    fi
    if [ "$FAKE_GPUS" -gt 0 ]; then
        # GPUs without File= are dropped by slurmd and the node goes INVAL; File= must be a device, and its
        # trailing number becomes the CUDA_VISIBLE_DEVICES index: symlinks nvidiaK -> /dev/null.
        for ((i = 0; i < FAKE_GPUS; i++)); do ln -sf /dev/null "$D/fakegpu/nvidia$i"; done
        gres_node="Gres=gpu:$FAKE_GPUS"; gres_types="GresTypes=gpu"
        printf 'AutoDetect=off\nNodeName=%s Name=gpu File=%s/fakegpu/nvidia[0-%d]\n' \
            "$NODE" "$D" $((FAKE_GPUS - 1)) > "$CONF_DIR/gres.conf"
    else
        rm -f "$CONF_DIR/gres.conf"
    fi
    if [ "$ACCOUNTING" = 1 ]; then
        acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=5"
    else
        acct="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
    fi
    if [ -f "$CONF_DIR/slurm.conf" ] && ! grep -q 'generated by slurm-local.sh' "$CONF_DIR/slurm.conf"; then
        cp "$CONF_DIR/slurm.conf" "$CONF_DIR/slurm.conf.bak.$(date +%s)"
    fi
    cat > "$CONF_DIR/slurm.conf" <<EOF
# generated by slurm-local.sh: single-node test cluster on localhost
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# a requeued job may start again only after cred_expire seconds (default 120)
AuthInfo=cred_expire=$CRED_EXPIRE
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups: process tracking through /proc, no binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
FirstJobId=$FIRST_JOB_ID
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
# jobs that become eligible by the clock (requeued ones) are otherwise picked up only every 30-60 s
SchedulerParameters=bf_interval=1,sched_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default, a job with no --mem gets the whole node's memory and runs alone
DefMemPerCPU=1000
KillWait=5
InactiveLimit=0
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
JobCompType=jobcomp/filetxt
JobCompLoc=$D/log/jobcomp.log
$acct
$gres_types
$overrides
NodeName=$NODE NodeAddr=127.0.0.1 $node_hw RealMemory=$mem $gres_node State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    log "wrote $CONF_DIR/slurm.conf (node $NODE: $node_hw RealMemory=$mem ${gres_node:-no GRES})"
}

start_accounting() {
    local db="$D/mysql" sock="$D/run/mysqld/mysqld.sock"
    mkdir -p "$db" "$D/run/mysqld"; chown mysql:mysql "$db" "$D/run/mysqld"
    mariadb-install-db --no-defaults --user=mysql --datadir="$db" --auth-root-authentication-method=socket \
        --skip-test-db > "$D/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed (see $D/log/mariadb-install.log)"
    # a private instance: ignore /etc/mysql, listen on 127.0.0.1 only; slurmdbd wants these InnoDB settings
    setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$db" --socket="$sock" \
        --pid-file="$D/run/mysqld/mariadbd.pid" --bind-address=127.0.0.1 --port="$DB_PORT" \
        --log-error="$db/mariadb.err" --skip-name-resolve \
        --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 < /dev/null > /dev/null 2>&1 &
    wait_for 30 "mariadbd" mariadb-admin --socket="$sock" -u root ping
    record mariadbd "$(cat "$D/run/mysqld/mariadbd.pid")"
    mariadb --socket="$sock" -u root -e "
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm-local';
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm-local';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    log "mariadbd started (pid $(cat "$D/run/mysqld/mariadbd.pid"), 127.0.0.1:$DB_PORT)"
    cat > "$CONF_DIR/slurmdbd.conf" <<EOF
# generated by slurm-local.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
LogFile=$D/log/slurmdbd.log
PidFile=$D/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm-local
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$CONF_DIR/slurmdbd.conf"       # slurmdbd refuses a group/world-readable file
    slurmdbd
    wait_for 20 "slurmdbd" sacctmgr -n -P show cluster
    record slurmdbd "$(cat "$D/run/slurmdbd.pid")"
    log "slurmdbd started (pid $(cat "$D/run/slurmdbd.pid"))"
}

record() { echo "$1 $2" >> "$PIDS"; }

start() {
    [ "$(id -u)" = 0 ] || die "must run as root (the daemons run as root, munge and mysql)"
    if [ -f "$PIDS" ]; then
        while read -r name pid; do
            alive "$pid" && die "$name (pid $pid) from an earlier start is still running: run '$0 stop' first"
        done < "$PIDS"
    fi
    install_packages
    NODE=$(hostname -s)
    if ! getent hosts "$NODE" >/dev/null; then
        log "hostname $NODE does not resolve: adding it to /etc/hosts"
        echo "127.0.0.1 $NODE" >> /etc/hosts
    fi
    if [ -d "$D" ] && [ ! -f "$D/.slurm-local" ] && [ -n "$(ls -A "$D")" ]; then
        die "$D exists, is not empty and was not made by this script; refusing to wipe it"
    fi
    rm -rf "$D"
    mkdir -p "$D"/{state,spool,log,run,fakegpu} "$CONF_DIR"
    touch "$D/.slurm-local"
    : > "$PIDS"
    start_munge
    write_slurm_conf
    [ "$ACCOUNTING" = 1 ] && start_accounting
    slurmctld                                      # registers the cluster with slurmdbd itself
    wait_for 20 "slurmctld" bash -c 'scontrol ping | grep -q UP'
    record slurmctld "$(cat "$D/run/slurmctld.pid")"
    log "slurmctld started (pid $(cat "$D/run/slurmctld.pid"))"
    slurmd
    wait_for 10 "slurmd pid file" test -s "$D/run/slurmd.pid"
    record slurmd "$(cat "$D/run/slurmd.pid")"
    log "slurmd started (pid $(cat "$D/run/slurmd.pid"))"
    local end=$(( $(date +%s) + 30 )) state
    while :; do      # "idle*" = not responding yet; drain/inval = a config or hardware mismatch
        state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)
        [ "$state" = idle ] && break
        case "$state" in
            drain*|drng*|inval*|down) die "node $NODE is '$state': $(scontrol show node "$NODE" | sed -n 's/.*Reason=//p') (see $D/log/slurmd.log)";;
        esac
        [ "$(date +%s)" -lt "$end" ] || die "node $NODE still '$state' after 30 s (see $D/log/slurmd.log)"
        sleep 0.2
    done
    sinfo
    log "cluster $CLUSTER up: partition $PARTITION, node $NODE idle"
}

# ------------------------------------------------------------------------------------------------ stop
pid_of() {  # the PID recorded at start, plus the daemon's own PID file (newer if it was restarted by hand)
    local name=$1 f=""
    awk -v n="$name" '$1 == n { print $2 }' "$PIDS" | tail -1
    case $name in
        slurmd|slurmctld|slurmdbd) f="$D/run/$name.pid";;
        mariadbd) f="$D/run/mysqld/mariadbd.pid";;
    esac
    if [ -n "$f" ] && [ -s "$f" ] && grep -q "^$name " "$PIDS"; then cat "$f"; fi
}

is_ours() {  # is PID alive and running the program NAME? (/proc/PID/comm is truncated to 15 characters)
    local name=$1 pid=$2 comm
    alive "$pid" || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [ "$comm" = "${name:0:15}" ]
}

stop_daemon() {  # SIGTERM, up to 15 s, then SIGKILL
    local name=$1 pid
    for pid in $(pid_of "$name" | sort -u); do
        if ! is_ours "$name" "$pid"; then log "$name (pid $pid) not running"; continue; fi
        kill -TERM "$pid"
        for _ in $(seq 1 75); do alive "$pid" || break; sleep 0.2; done
        if alive "$pid"; then
            log "$name (pid $pid) ignored SIGTERM for 15 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true
        else
            log "$name (pid $pid) stopped"
        fi
    done
}

stop() {
    [ -f "$PIDS" ] || { log "no $PIDS: nothing to stop"; return 0; }
    set +e
    # cancel the jobs while slurmctld/slurmd still run, so that SLURM cleans up the job steps itself
    local ctld jobs
    ctld=$(pid_of slurmctld | tail -1)
    if is_ours slurmctld "$ctld"; then
        jobs=$(squeue -h -o %A 2>/dev/null | sort -u)
        if [ -n "$jobs" ]; then
            log "cancelling jobs: $(echo $jobs)"
            scancel $jobs 2>/dev/null
            for _ in $(seq 1 50); do [ -z "$(squeue -h -t R,CG,S -o %A 2>/dev/null)" ] && break; sleep 0.2; done
        fi
    fi
    for name in slurmd slurmctld slurmdbd mariadbd munged; do stop_daemon "$name"; done
    mv "$PIDS" "$PIDS.stopped"
    [ "${SLURM_LOCAL_PURGE:-0}" = 1 ] && rm -rf "$D" && log "removed $D"
    log "stopped (configuration left in $CONF_DIR)"
}

status() {
    [ -f "$PIDS" ] || { echo "not started (no $PIDS)"; return 1; }
    local name pid up=0
    while read -r name pid; do
        if is_ours "$name" "$pid"; then echo "$name pid $pid running"; else echo "$name pid $pid NOT running"; up=1; fi
    done < "$PIDS"
    sinfo
    return $up
}

case "${1:-}" in
    start) start;;
    stop) stop;;
    status) status;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2;;
esac
