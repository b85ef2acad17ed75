# Neo4j 5.26 LTS community DBMS, embedded by a one-class launcher (Main.java)
# and built from Maven Central: no Neo4j package or Docker image is reachable
# on the test machines. Sourced by e2e/services/{up,down,status} after lib.sh.
# docker-compose runs the real neo4j:5.26 image instead.

NEO4J_PORT=7687
# Test-only credentials (auth stays on, like production; min 8 characters).
NEO4J_SERVICE_USER=neo4j
NEO4J_SERVICE_PASSWORD=codingbrain-test
# The build happens in a copy under the cache so the repository stays clean
# (no target/), and the Maven repository is cached next to it.
NEO4J_BUILD_DIR="$CACHE_DIR/neo4j/build"
NEO4J_M2_DIR="$CACHE_DIR/neo4j/m2"

# neo4j_source_hash: hash of everything the build depends on.
neo4j_source_hash() {
    (cd "$SERVICES_DIR/neo4j" && find pom.xml src -type f | LC_ALL=C sort | xargs sha256sum) |
        sha256sum | cut -d' ' -f1
}

# neo4j_install: JDK 17 and Maven from Debian, then the launcher and its 213
# jars; rebuilds only when pom.xml or the source changed (hash stamp).
neo4j_install() {
    command -v java >/dev/null && command -v mvn >/dev/null ||
        apt_install openjdk-17-jdk-headless maven
    local hash stamp="$CACHE_DIR/neo4j/build.stamp"
    hash=$(neo4j_source_hash)
    if [[ -f $stamp && $(<"$stamp") == "$hash" && -d $NEO4J_BUILD_DIR/target/lib ]]; then
        return 0
    fi
    log "neo4j: building the launcher (Maven repository $NEO4J_M2_DIR)"
    rm -rf "$NEO4J_BUILD_DIR" "$stamp"
    mkdir -p "$NEO4J_BUILD_DIR" "$NEO4J_M2_DIR"
    cp -r "$SERVICES_DIR/neo4j/pom.xml" "$SERVICES_DIR/neo4j/src" "$NEO4J_BUILD_DIR/"
    if ! (cd "$NEO4J_BUILD_DIR" && mvn -B -q -Dmaven.repo.local="$NEO4J_M2_DIR" \
        -Dmaven.test.skip=true package) >"$CACHE_DIR/neo4j/build.log" 2>&1; then
        tail -n 30 "$CACHE_DIR/neo4j/build.log" >&2
        die "neo4j: Maven build failed, see $CACHE_DIR/neo4j/build.log"
    fi
    printf '%s\n' "$hash" >"$stamp"
}

# neo4j_bolt_handshake: a Bolt handshake (magic + "5.8 down to 5.0"); the server
# answers with the 4-byte version it picked only when Bolt is really serving.
neo4j_bolt_handshake() {
    local reply
    reply=$(timeout 3 bash -c '
        exec 3<>/dev/tcp/127.0.0.1/'"$NEO4J_PORT"'
        printf "\x60\x60\xb0\x17\x00\x08\x08\x05\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00" >&3
        head -c 4 <&3 | od -An -tx1' 2>/dev/null) || return 1
    [[ $reply =~ 05[[:space:]]*$ ]]
}

# neo4j_healthy: our launcher is alive, has printed READY (the password is set)
# and answers a Bolt handshake. The Go smoke test runs real queries.
neo4j_healthy() {
    pid_alive neo4j &&
        grep -q '^READY' "$STATE_DIR/neo4j.log" 2>/dev/null &&
        neo4j_bolt_handshake
}

# neo4j_start: launches the launcher in the background and returns at once, so
# the other servers come up meanwhile; `up` then waits for neo4j_healthy (READY
# takes 5-15 s). A launcher that cannot start (e.g. port 7687 taken) prints
# FAILED and exits 1; `up` shows the tail of the log.
neo4j_start() {
    if neo4j_healthy; then return 0; fi
    # A recorded process that is alive but not healthy is still starting: keep it.
    if pid_alive neo4j && ! grep -q '^FAILED' "$STATE_DIR/neo4j.log" 2>/dev/null; then
        return 0
    fi
    stop_pid neo4j 30
    mkdir -p "$STATE_DIR/neo4j"
    # nohup: keep running when the terminal that ran `up` goes away (the JVM keeps
    # an inherited SIG_IGN for SIGHUP). $! is java's own pid.
    # setsid: a session of its own, so a signal to the process group of whoever
    # ran `up` (a test job being killed) does not take the server down. In a
    # script setsid does not fork (we are not a group leader): $! stays the pid.
    NEO4J_PASSWORD="$NEO4J_SERVICE_PASSWORD" setsid nohup java -Xms512m -Xmx1g \
        --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
        -cp "$NEO4J_BUILD_DIR/target/classes:$NEO4J_BUILD_DIR/target/lib/*" \
        codingbrain.neo4j.Main "$STATE_DIR/neo4j" "$NEO4J_PORT" \
        >"$STATE_DIR/neo4j.log" 2>&1 </dev/null &
    echo $! >"$(pidfile neo4j)"
}

# neo4j_stop: SIGTERM runs the launcher's shutdown hook (clean DBMS shutdown, ~2 s).
neo4j_stop() {
    stop_pid neo4j 60
}

neo4j_env() {
    echo "export NEO4J_URI=bolt://127.0.0.1:$NEO4J_PORT"
    echo "export NEO4J_USER=$NEO4J_SERVICE_USER"
    echo "export NEO4J_PASSWORD=$NEO4J_SERVICE_PASSWORD"
}
