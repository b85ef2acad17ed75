# Common functions for e2e/services/{up,down,status} and every NAME/service.sh.
# Sourced, not executed. The caller runs with `set -euo pipefail`.

SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Downloads, venvs and Maven repositories live outside the repository so that a
# fresh clone on the same machine starts warm.
CACHE_DIR="${CODINGBRAIN_SERVICES_CACHE:-/var/cache/codingbrain-services}"
# Pid files, logs and data of the running servers.
STATE_DIR="${CODINGBRAIN_SERVICES_STATE:-/var/lib/codingbrain-services}"
export SERVICES_DIR CACHE_DIR STATE_DIR

# The fixed order in which services are installed and started (stopped in
# reverse). SERVICES="postgres valkey" selects a subset, in the order given.
ALL_SERVICES="postgres valkey valkey-cluster neo4j opensearch qdrant embeddings haproxy"
SERVICES="${SERVICES:-$ALL_SERVICES}"

mkdir -p "$CACHE_DIR" "$STATE_DIR"
# Servers that refuse to run as root (OpenSearch) must be able to traverse these.
chmod 755 "$CACHE_DIR" "$STATE_DIR"

export DEBIAN_FRONTEND=noninteractive

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Milliseconds since the epoch, for timings.
now_ms() { date +%s%3N; }

# wait_until DEADLINE_SECONDS DESCRIPTION COMMAND...
# Polls COMMAND every 0.2 s until it succeeds; returns 1 with a message after
# DEADLINE_SECONDS.
wait_until() {
    local deadline=$1 what=$2
    shift 2
    local end=$(($(now_ms) + deadline * 1000))
    until "$@" >/dev/null 2>&1; do
        if (($(now_ms) >= end)); then
            log "timed out after ${deadline}s waiting for: $what"
            return 1
        fi
        sleep 0.2
    done
}

# not COMMAND...: succeeds when COMMAND fails (for wait_until).
not() { ! "$@"; }

# pidfile NAME -> path of the pid file of service NAME.
pidfile() { printf '%s/%s.pid\n' "$STATE_DIR" "$1"; }

# read_pid NAME: prints the recorded pid when the file holds a number.
read_pid() {
    local f pid
    f=$(pidfile "$1")
    [[ -r $f ]] || return 1
    read -r pid <"$f" || true
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    printf '%s\n' "$pid"
}

# proc_alive PID: the process exists and is not a zombie. Daemons are
# re-parented to pid 1, which here may reap exited children only seconds later.
proc_alive() {
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z && $state != X ]]
}

# pid_alive NAME: the pid recorded for NAME is a live process.
pid_alive() {
    local pid
    pid=$(read_pid "$1") || return 1
    proc_alive "$pid"
}

# stop_pid NAME [TIMEOUT_SECONDS]: SIGTERM the process recorded in NAME's pid
# file, wait for it to exit, SIGKILL after the timeout; removes the pid file.
stop_pid() {
    local name=$1 timeout=${2:-30} pid
    if ! pid=$(read_pid "$name"); then
        rm -f "$(pidfile "$name")"
        return 0
    fi
    if proc_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_until "$timeout" "$name (pid $pid) to exit" not proc_alive "$pid"; then
            log "$name did not exit on SIGTERM, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            wait_until 10 "$name (pid $pid) to die" not proc_alive "$pid" || true
        fi
    fi
    rm -f "$(pidfile "$name")"
}

# apt_install PACKAGE...: installs missing Debian packages; refreshes the
# package lists only when an install fails (a fresh machine may have none).
apt_install() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    log "apt-get install ${missing[*]}"
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$STATE_DIR/apt.log" 2>&1; then
        log "apt-get install failed, running apt-get update first"
        apt-get update -q >>"$STATE_DIR/apt.log" 2>&1
        apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$STATE_DIR/apt.log" 2>&1 ||
            die "apt-get install ${missing[*]} failed, see $STATE_DIR/apt.log"
    fi
}

# source_services: sources NAME/service.sh for every selected service.
source_services() {
    local name
    for name in $SERVICES; do
        [[ " $ALL_SERVICES " == *" $name "* ]] || die "unknown service '$name' (known: $ALL_SERVICES)"
        [[ -f $SERVICES_DIR/$name/service.sh ]] || die "missing $SERVICES_DIR/$name/service.sh"
        # shellcheck source=/dev/null
        source "$SERVICES_DIR/$name/service.sh"
    done
}

# reverse WORDS...: prints the words in reverse order, one per line.
reverse() {
    local i args=("$@")
    for ((i = ${#args[@]} - 1; i >= 0; i--)); do printf '%s\n' "${args[i]}"; done
}
