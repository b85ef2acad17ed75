# A real Redis Cluster of the Valkey protocol on loopback: three masters and
# one replica each, six redis-server 7.0 processes (Debian's, installed by the
# valkey service too). Sourced by e2e/services/{up,down,status}, and by the
# failover test in stores/valkey, which starts a private cluster on other
# ports (VALKEY_CLUSTER_PORT_BASE) in its own STATE_DIR.
#
# Persistence: AOF with appendfsync everysec on every node. A node writes
# each change to its AOF (the kernel's page cache) before it answers, so a
# killed process loses nothing it acknowledged when it restarts from its own
# files; an OS crash or power loss can lose the last second or two. A failover
# does not use the dead master's files: replication is asynchronous, so a
# write the master acknowledged but had not yet sent to its replica when it
# died is lost (the old master rejoins as a replica and drops it). WAIT 1 <ms>
# after a write closes that window for the writes it confirms.

VALKEY_CLUSTER_PORT_BASE=${VALKEY_CLUSTER_PORT_BASE:-7000}
# Node i listens on BASE+i (i = 1..6) and gossips on that port + 10000.
VALKEY_CLUSTER_PORTS=$(seq $((VALKEY_CLUSTER_PORT_BASE + 1)) $((VALKEY_CLUSTER_PORT_BASE + 6)))
# How long a master may stay silent before it is failed over. Redis's default
# (15 s) is for real networks; on loopback 2 s is long enough not to trip on
# a busy machine and short enough for the failover test.
VALKEY_CLUSTER_NODE_TIMEOUT_MS=2000

valkey-cluster_install() {
    apt_install redis-server
}

# valkey_cluster_node PORT: the pid-file name of one node.
valkey_cluster_node() { printf 'valkey-cluster-%s\n' "$1"; }

# valkey_cluster_knows_all PORT: the node's nodes.conf lists all six nodes,
# so the node has been part of the created cluster.
valkey_cluster_knows_all() {
    local conf=$STATE_DIR/valkey-cluster/$1/nodes.conf
    [[ -r $conf ]] && (($(grep -cv '^vars ' "$conf") == 6))
}

valkey-cluster_start() {
    if valkey-cluster_healthy; then
        return 0
    fi
    local dir=$STATE_DIR/valkey-cluster port fresh=0 addrs=()
    for port in $VALKEY_CLUSTER_PORTS; do
        valkey_cluster_knows_all "$port" || fresh=1
    done
    if ((fresh)); then
        # A cluster that was never completely created (or whose state is
        # gone) starts from nothing: half a topology is never repaired.
        valkey-cluster_stop
        rm -rf "$dir"
    fi
    for port in $VALKEY_CLUSTER_PORTS; do
        addrs+=("127.0.0.1:$port")
        pid_alive "$(valkey_cluster_node "$port")" && continue
        mkdir -p "$dir/$port"
        # A config file, so that a restart starts the node exactly so.
        # repl-diskless-sync-delay 0: a master has one replica, so it need
        # not wait (5 s by default) for others before it sends its data.
        cat >"$dir/$port/redis.conf" <<EOF
port $port
bind 127.0.0.1
daemonize yes
pidfile $(pidfile "$(valkey_cluster_node "$port")")
logfile $STATE_DIR/$(valkey_cluster_node "$port").log
dir $dir/$port
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout $VALKEY_CLUSTER_NODE_TIMEOUT_MS
save ""
appendonly yes
appendfsync everysec
repl-diskless-sync-delay 0
EOF
        rm -f "$(pidfile "$(valkey_cluster_node "$port")")"
        redis-server "$dir/$port/redis.conf" </dev/null >>"$STATE_DIR/valkey-cluster.log" 2>&1
    done
    for port in $VALKEY_CLUSTER_PORTS; do
        wait_until 10 "valkey-cluster node $port answering" valkey_cluster_ping "$port" ||
            die "redis-server on port $port did not start, see $STATE_DIR/$(valkey_cluster_node "$port").log"
    done
    if ((fresh)); then
        # Assigns the 16384 slots to the first three nodes and a replica to
        # each, then waits until every node agrees on the slots.
        redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
            </dev/null >>"$STATE_DIR/valkey-cluster.log" 2>&1 ||
            die "redis-cli --cluster create failed, see $STATE_DIR/valkey-cluster.log"
    fi
}

valkey_cluster_ping() {
    [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]
}

# Healthy when every node sees the whole cluster (six nodes, three masters
# serving slots) in state ok, and every replica is in sync with its master
# (a master's replica online, a replica's link to its master up): until
# then a master's death would lose its data.
valkey-cluster_healthy() {
    local port info
    for port in $VALKEY_CLUSTER_PORTS; do
        info=$(redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null) || return 1
        [[ $info == *cluster_state:ok* && $info == *cluster_known_nodes:6* && $info == *cluster_size:3* ]] || return 1
        info=$(redis-cli -h 127.0.0.1 -p "$port" info replication 2>/dev/null) || return 1
        [[ $info == *role:master*state=online* || $info == *role:slave*master_link_status:up* ]] || return 1
    done
}

valkey-cluster_stop() {
    local port
    for port in $VALKEY_CLUSTER_PORTS; do
        stop_pid "$(valkey_cluster_node "$port")" 15
    done
}

valkey-cluster_env() {
    local base=$VALKEY_CLUSTER_PORT_BASE
    # Three seed nodes: the client learns the rest (and every failover) from
    # CLUSTER SLOTS.
    echo "export VALKEY_CLUSTER_URL='redis+cluster://127.0.0.1:$((base + 1))?addr=127.0.0.1:$((base + 2))&addr=127.0.0.1:$((base + 3))'"
}
