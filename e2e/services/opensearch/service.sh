# OpenSearch 3.6.0, the official integ-test-zip distribution from Maven
# Central (no Docker, no Debian package). Plain HTTP, no security plugin.
# Sourced by e2e/services/{up,down,status}.
#
# The unpacked distribution stays read-only in $CACHE_DIR/opensearch; config,
# data, logs and the daemon's own pid file live in $STATE_DIR/opensearch/,
# owned by the system user that runs it (OpenSearch refuses to run as root).

OPENSEARCH_VERSION=3.6.0
OPENSEARCH_SHA1=8549f483e338699fbfc1e9bfca831900d578bdf4
OPENSEARCH_ARTIFACT=org.opensearch.distribution.integ-test-zip:opensearch:$OPENSEARCH_VERSION:zip
OPENSEARCH_USER=opensearch
# OpenSearch 3 needs Java 21+; the machine's default is 17.
OPENSEARCH_JDK=/usr/lib/jvm/temurin-25-jdk-amd64
OPENSEARCH_HOME=$CACHE_DIR/opensearch/opensearch-$OPENSEARCH_VERSION
OPENSEARCH_RUN=$STATE_DIR/opensearch
OPENSEARCH_HTTP_PORT=9200
OPENSEARCH_TRANSPORT_PORT=9300

opensearch_install() {
    [[ -x $OPENSEARCH_JDK/bin/java ]] || die "OpenSearch $OPENSEARCH_VERSION needs Java 21+ at $OPENSEARCH_JDK"
    id -u "$OPENSEARCH_USER" >/dev/null 2>&1 ||
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$OPENSEARCH_USER"
    [[ -f $OPENSEARCH_HOME/.complete ]] && return 0

    local dir=$CACHE_DIR/opensearch zip
    zip=$dir/opensearch-$OPENSEARCH_VERSION.zip
    mkdir -p "$dir"
    if [[ ! -f $zip ]] || [[ "$(sha1sum "$zip" | cut -d' ' -f1)" != "$OPENSEARCH_SHA1" ]]; then
        log "opensearch: fetching $OPENSEARCH_ARTIFACT with Maven"
        rm -f "$zip"
        mvn -B -q -Dmaven.repo.local="$dir/m2" dependency:copy \
            -Dartifact="$OPENSEARCH_ARTIFACT" -DoutputDirectory="$dir" </dev/null ||
            die "mvn dependency:copy $OPENSEARCH_ARTIFACT failed"
        # Keep Maven's plugins cached but not a second copy of the 154 MiB zip.
        rm -rf "$dir/m2/org/opensearch"
        [[ "$(sha1sum "$zip" | cut -d' ' -f1)" == "$OPENSEARCH_SHA1" ]] ||
            die "sha1 mismatch for $zip"
    fi
    # Unpack next to the final place and rename, so a half-unpacked tree is
    # never taken for a complete one.
    rm -rf "$dir/unpack" "$OPENSEARCH_HOME"
    mkdir -p "$dir/unpack"
    unzip -q "$zip" -d "$dir/unpack"
    mv "$dir/unpack/opensearch-$OPENSEARCH_VERSION" "$OPENSEARCH_HOME"
    rmdir "$dir/unpack"
    chmod -R a+rX "$OPENSEARCH_HOME"
    touch "$OPENSEARCH_HOME/.complete"
}

opensearch_daemon_alive() { # PIDFILE
    local pid=
    # The file has no trailing newline, so read returns 1 even when it reads.
    [[ -s $1 ]] && { read -r pid <"$1" || true; } && [[ $pid =~ ^[0-9]+$ ]] && proc_alive "$pid"
}

opensearch_start() {
    local daemon_pid=$OPENSEARCH_RUN/run/opensearch.pid
    if opensearch_daemon_alive "$daemon_pid"; then
        # Running (perhaps still starting): never launch a second node, it
        # would fail on the node lock and delete the first one's pid file.
        cp "$daemon_pid" "$(pidfile opensearch)"
        return 0
    fi
    mkdir -p "$OPENSEARCH_RUN"/{data,logs,run}
    if [[ ! -d $OPENSEARCH_RUN/config ]]; then
        cp -r "$OPENSEARCH_HOME/config" "$OPENSEARCH_RUN/config.tmp"
        # bin/opensearch runs from its home (read-only here), and jvm.options
        # names the GC log, error file and heap dump relative to it: point
        # them at our own logs/ and data/.
        sed -i -e "s|logs/|$OPENSEARCH_RUN/logs/|g" -e "s|HeapDumpPath=data|HeapDumpPath=$OPENSEARCH_RUN/data|" \
            "$OPENSEARCH_RUN/config.tmp/jvm.options"
        mv "$OPENSEARCH_RUN/config.tmp" "$OPENSEARCH_RUN/config"
    fi
    # On every start: a start tried as root would leave root-owned files.
    chown -R "$OPENSEARCH_USER:$OPENSEARCH_USER" "$OPENSEARCH_RUN"
    runuser -u "$OPENSEARCH_USER" -- test -x "$OPENSEARCH_HOME/bin" -a -w "$OPENSEARCH_RUN/run" ||
        die "user $OPENSEARCH_USER cannot reach $OPENSEARCH_HOME or $OPENSEARCH_RUN: every parent directory must be traversable (chmod o+x)"

    rm -f "$daemon_pid" "$(pidfile opensearch)"
    log "opensearch: starting $OPENSEARCH_VERSION"
    # The daemon keeps the caller's stdout/stderr: send them to the log and
    # take stdin from /dev/null, or a caller reading our output would hang.
    # setsid: its own session, out of reach of signals to the caller's process group.
    (cd "$OPENSEARCH_RUN" && setsid runuser -u "$OPENSEARCH_USER" -- env \
        JAVA_HOME="$OPENSEARCH_JDK" OPENSEARCH_JAVA_HOME="$OPENSEARCH_JDK" \
        OPENSEARCH_PATH_CONF="$OPENSEARCH_RUN/config" \
        OPENSEARCH_JAVA_OPTS="-Xms512m -Xmx512m" \
        "$OPENSEARCH_HOME/bin/opensearch" -d -p "$daemon_pid" \
        -Ecluster.name=codingbrain \
        -Ediscovery.type=single-node \
        -Enetwork.host=127.0.0.1 \
        -Ehttp.port="$OPENSEARCH_HTTP_PORT" \
        -Etransport.port="$OPENSEARCH_TRANSPORT_PORT" \
        -Epath.data="$OPENSEARCH_RUN/data" \
        -Epath.logs="$OPENSEARCH_RUN/logs" \
        -Ecluster.routing.allocation.disk.threshold_enabled=false \
        </dev/null >>"$STATE_DIR/opensearch.log" 2>&1) ||
        die "bin/opensearch -d failed, see $STATE_DIR/opensearch.log"
    # `-d` returns before the pid file exists: wait for a live one, so that a
    # second start in that window sees the node instead of launching another.
    wait_until 60 "opensearch pid file" opensearch_daemon_alive "$daemon_pid" ||
        die "opensearch did not start, see $STATE_DIR/opensearch.log and $OPENSEARCH_RUN/logs/"
    cp "$daemon_pid" "$(pidfile opensearch)"
}

# Healthy when the cluster reaches yellow (a single node never gets green for
# indices with replicas).
opensearch_healthy() {
    curl -fsS -o /dev/null --max-time 3 \
        "http://127.0.0.1:$OPENSEARCH_HTTP_PORT/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null
}

opensearch_stop() {
    stop_pid opensearch 60
}

opensearch_env() {
    echo "export OPENSEARCH_URL='http://127.0.0.1:$OPENSEARCH_HTTP_PORT'"
}
