# Qdrant for the tests: Qdrant's own engine (PyPI qdrant-edge-py) behind our gRPC
# front (qdrant_front.py), because no reachable registry ships the Qdrant server.
# docker-compose runs the real qdrant/qdrant server instead. Sourced by
# e2e/services/{up,down,status} after lib.sh.

QDRANT_ADDR=127.0.0.1:6334
QDRANT_VENV="$CACHE_DIR/qdrant/venv"

# qdrant_requirements_hash: the venv depends on the pins and on the Python used.
qdrant_requirements_hash() {
    { cat "$SERVICES_DIR/qdrant/requirements.txt"; python3 -c 'import sys; print(sys.version)'; } |
        sha256sum | cut -d' ' -f1
}

# qdrant_install: a venv with the pinned packages, recreated only when
# requirements.txt (or the Python) changed (hash stamp).
qdrant_install() {
    # Debian's python3 needs python3-venv for `python3 -m venv` (ensurepip).
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    local hash stamp="$CACHE_DIR/qdrant/venv.stamp"
    hash=$(qdrant_requirements_hash)
    if [[ -f $stamp && $(<"$stamp") == "$hash" && -x $QDRANT_VENV/bin/python ]]; then
        return 0
    fi
    log "qdrant: creating the venv $QDRANT_VENV"
    rm -rf "$QDRANT_VENV" "$stamp"
    mkdir -p "$CACHE_DIR/qdrant"
    if ! {
        python3 -m venv "$QDRANT_VENV" &&
            PIP_CACHE_DIR="$CACHE_DIR/qdrant/pip-cache" "$QDRANT_VENV/bin/pip" install -q \
                --disable-pip-version-check -r "$SERVICES_DIR/qdrant/requirements.txt" &&
            "$QDRANT_VENV/bin/python" -c 'import qdrant_client.grpc, qdrant_edge'
    } >"$CACHE_DIR/qdrant/install.log" 2>&1; then
        tail -n 30 "$CACHE_DIR/qdrant/install.log" >&2
        die "qdrant: venv install failed, see $CACHE_DIR/qdrant/install.log"
    fi
    printf '%s\n' "$hash" >"$stamp"
}

# qdrant_healthy: the recorded front is alive and answers a real gRPC
# Qdrant/HealthCheck call.
qdrant_healthy() {
    pid_alive qdrant &&
        "$QDRANT_VENV/bin/python" "$SERVICES_DIR/qdrant/qdrant_front.py" --check "$QDRANT_ADDR" 2>/dev/null
}

# qdrant_start: launches the front in the background and returns at once (READY
# after ~1-2 s; `up` waits for qdrant_healthy). Data, one EdgeShard per
# collection, persists under $STATE_DIR/qdrant/ across restarts.
qdrant_start() {
    if qdrant_healthy; then return 0; fi
    # Alive but not answering yet: still starting (loading collections).
    if pid_alive qdrant && ! grep -q '^FAILED' "$STATE_DIR/qdrant.log" 2>/dev/null; then
        return 0
    fi
    stop_pid qdrant 30
    mkdir -p "$STATE_DIR/qdrant"
    # nohup: survive the terminal that ran `up`; nohup execs python, so $! is its pid.
    # setsid: a session of its own, so a signal to the process group of whoever
    # ran `up` (a test job being killed) does not take the server down. In a
    # script setsid does not fork (we are not a group leader): $! stays the pid.
    setsid nohup "$QDRANT_VENV/bin/python" -u "$SERVICES_DIR/qdrant/qdrant_front.py" \
        --data "$STATE_DIR/qdrant" --listen "$QDRANT_ADDR" \
        >"$STATE_DIR/qdrant.log" 2>&1 </dev/null &
    echo $! >"$(pidfile qdrant)"
}

# qdrant_stop: SIGTERM makes the front stop serving, flush and close every shard.
qdrant_stop() {
    stop_pid qdrant 30
}

qdrant_env() {
    # A gRPC address, host:port (no scheme), as qdrant.Config{Host, Port} takes it.
    echo "export QDRANT_URL=$QDRANT_ADDR"
}
