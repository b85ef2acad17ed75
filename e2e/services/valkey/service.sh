# The Valkey protocol, served by Debian bookworm's redis-server 7.0 (bookworm
# has no valkey package; Valkey 8 forked from Redis 7.2 and speaks the same
# protocol for the commands we use). Sourced by e2e/services/{up,down,status}.
# In-memory only: no RDB snapshots, no AOF.

VALKEY_PORT=6379

valkey_install() {
    # redis-tools (redis-cli) comes with it. Debian's policy-rc.d keeps the
    # package from starting its own daemon.
    apt_install redis-server
}

valkey_start() {
    if pid_alive valkey && valkey_healthy; then
        return 0
    fi
    mkdir -p "$STATE_DIR/valkey"
    rm -f "$(pidfile valkey)"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$VALKEY_PORT" \
        --save '' --appendonly no --dir "$STATE_DIR/valkey" \
        --pidfile "$(pidfile valkey)" --logfile "$STATE_DIR/valkey.log" \
        </dev/null >>"$STATE_DIR/valkey.log" 2>&1
    # The daemonised child writes the pid file after the parent has returned.
    wait_until 10 "valkey pid file" pid_alive valkey ||
        die "redis-server did not start, see $STATE_DIR/valkey.log"
}

# Healthy when the server answers PING.
valkey_healthy() {
    [[ "$(redis-cli -h 127.0.0.1 -p "$VALKEY_PORT" ping 2>/dev/null)" == PONG ]]
}

valkey_stop() {
    stop_pid valkey 15
}

valkey_env() {
    echo "export VALKEY_URL='redis://127.0.0.1:$VALKEY_PORT/0'"
}
