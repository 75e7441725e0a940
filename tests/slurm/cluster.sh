#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost (munged, slurmctld, slurmd), for tests.
#
#   tests/slurm/cluster.sh start STATE_DIR   # configure and start; prints `export SLURM_CONF=...`
#   tests/slurm/cluster.sh stop  STATE_DIR   # cancel jobs, stop the daemons it started, wait for them
#   tests/slurm/cluster.sh check             # exit 0 when a cluster can be started here
#
# Everything (config, munge key and socket, spool, logs, pid files) lives in STATE_DIR, on free
# ports; clients find the cluster through SLURM_CONF=STATE_DIR/etc/slurm.conf (also written to
# STATE_DIR/env). The one thing outside: /etc/slurm/slurm.conf is linked to that file while the
# cluster runs (the srun inside each Snakemake job gets no SLURM_CONF); where that path already
# exists (a real SLURM installation) the script refuses. Needs root and the Debian packages
# slurmctld slurmd slurm-client munge (.ci/run installs them). Exit status 3 means "cannot run
# here" (tests skip on it); any other failure prints the daemon logs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:-}"
state="${2:-}"
sys_conf=/etc/slurm/slurm.conf

die() { echo "cluster.sh: $*" >&2; exit 1; }

check() {
    local missing=()
    for bin in munged slurmctld slurmd sbatch squeue sinfo scancel scontrol python3; do
        command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
    done
    if ((${#missing[@]})); then
        echo "cluster.sh: missing ${missing[*]}: apt-get install --no-install-recommends" \
            "slurmctld slurmd slurm-client munge" >&2
        return 3
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "cluster.sh: slurmd must run as root (uid $(id -u) here)" >&2
        return 3
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Kill the daemon whose pid is in $1 (TERM, then KILL after $2 seconds); only that pid.
stop_pid() {
    local pidfile="$1" grace="${2:-10}" pid i
    [ -s "$pidfile" ] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < grace * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
    fi
    rm -f "$pidfile"
}

show_logs() {
    for f in "$state"/log/*.log "$state"/munge/munged.log; do
        [ -f "$f" ] || continue
        echo "----- $f (last 30 lines)" >&2
        tail -n 30 "$f" >&2
    done
}

start() {
    check || exit $?
    [ -n "$state" ] || die "usage: cluster.sh start STATE_DIR"
    mkdir -p "$state"
    state="$(cd "$state" && pwd)"
    [ -e "$state/etc/slurm.conf" ] && die "$state already holds a cluster: stop it first"
    # The jobstep executor strips SLURM_* (SLURM_CONF too) from the environment of the srun it
    # runs inside each job, so srun must find the config at the compiled-in default path: it is
    # linked there for the cluster's lifetime (stop removes the link).
    if [ -L "$sys_conf" ] && [ ! -e "$sys_conf" ]; then
        rm -f "$sys_conf" # dangling link left by a test cluster that was not stopped
    fi
    if [ -e "$sys_conf" ] || [ -L "$sys_conf" ]; then
        echo "cluster.sh: $sys_conf exists (a real SLURM installation or another running test" \
            "cluster); not touching it" >&2
        exit 3
    fi
    mkdir -p "$state"/{etc,spool/ctld,spool/d,log,run,munge}

    # munge: private key, socket and pid file. munged runs as root with --force: it would
    # otherwise refuse a socket below directories not traversable by all (pytest's 0700 tmp dirs).
    dd if=/dev/urandom of="$state/munge/munge.key" bs=1024 count=1 status=none
    chmod 0400 "$state/munge/munge.key"
    munged --force \
        --socket="$state/munge/munge.socket.2" \
        --key-file="$state/munge/munge.key" \
        --pid-file="$state/munge/munged.pid" \
        --log-file="$state/munge/munged.log" \
        --seed-file="$state/munge/munged.seed" \
        || { show_logs; die "munged failed to start"; }

    # slurm.conf / gres.conf from the templates, with this machine's hardware and free ports.
    local node hw ctld_port slurmd_port
    node="$(hostname -s)"
    hw="$(slurmd -C | head -n 1 | tr ' ' '\n' | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore|RealMemory)=' | tr '\n' ' ')"
    ctld_port="$(free_port)"
    slurmd_port="$(free_port)"
    while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port="$(free_port)"; done
    for name in slurm.conf gres.conf; do
        sed -e "s|@NODE@|$node|g" -e "s|@STATE@|$state|g" -e "s|@HARDWARE@|$hw|g" \
            -e "s|@CTLD_PORT@|$ctld_port|g" -e "s|@SLURMD_PORT@|$slurmd_port|g" \
            "$here/$name.in" > "$state/etc/$name"
    done
    export SLURM_CONF="$state/etc/slurm.conf"
    echo "export SLURM_CONF=$SLURM_CONF" > "$state/env"
    mkdir -p "$(dirname "$sys_conf")"
    ln -s "$SLURM_CONF" "$sys_conf"

    slurmctld -c -f "$SLURM_CONF" || { show_logs; stop; die "slurmctld failed to start"; }
    slurmd -f "$SLURM_CONF" -N "$node" || { show_logs; stop; die "slurmd failed to start"; }

    # Wait until the node is idle (a cold start takes a few seconds).
    local i st=""
    for ((i = 0; i < 600; i++)); do
        st="$(sinfo -h -N -n "$node" -o '%T' 2>/dev/null | head -n 1 || true)"
        case "$st" in
            idle) break ;;
            drain* | down* | fail*)
                sinfo -R >&2 || true
                show_logs
                stop
                die "node $node is $st"
                ;;
        esac
        sleep 0.1
    done
    if [ "$st" != idle ]; then
        show_logs
        stop
        die "node $node not idle after 60 s (state '${st:-unknown}')"
    fi
    echo "export SLURM_CONF=$SLURM_CONF"
}

stop() {
    [ -n "$state" ] || die "usage: cluster.sh stop STATE_DIR"
    [ -d "$state" ] || return 0
    state="$(cd "$state" && pwd)"
    export SLURM_CONF="$state/etc/slurm.conf"
    local i
    # Cancel every job of this cluster and wait for its steps to end, so no slurmstepd outlives it.
    if [ -s "$state/run/slurmctld.pid" ] && kill -0 "$(cat "$state/run/slurmctld.pid")" 2>/dev/null; then
        local jobs
        jobs="$(squeue -h -o %A 2>/dev/null || true)"
        if [ -n "$jobs" ]; then
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            for ((i = 0; i < 300; i++)); do
                [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break
                sleep 0.1
            done
        fi
    fi
    stop_pid "$state/run/slurmd.pid" 15
    stop_pid "$state/run/slurmctld.pid" 15
    stop_pid "$state/munge/munged.pid" 10
    if [ "$(readlink "$sys_conf" 2>/dev/null || true)" = "$state/etc/slurm.conf" ]; then
        rm -f "$sys_conf"
    fi
    rm -f "$state/etc/slurm.conf" "$state/env"
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    check) check ;;
    *) die "usage: cluster.sh start|stop STATE_DIR | check" ;;
esac
