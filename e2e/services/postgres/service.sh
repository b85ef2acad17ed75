# PostgreSQL 15 from Debian bookworm, run as Debian's cluster "15 main" with
# pg_ctlcluster (there is no systemd). Sourced by e2e/services/{up,down,status}.
#
# Data stays in Debian's cluster directory (/var/lib/postgresql/15/main); our
# settings go into its conf.d. $STATE_DIR/postgres/ holds the generated role
# passwords, $STATE_DIR/postgres.pid a copy of the postmaster pid and
# $STATE_DIR/postgres.log links to the cluster's log.

PG_VERSION=15
PG_CLUSTER=main
PG_PORT=5432
PG_DB=codingbrain
PG_OWNER=codingbrain_owner
PG_APP=codingbrain_app
PG_DATA=/var/lib/postgresql/$PG_VERSION/$PG_CLUSTER
PG_CONF_FILE=/etc/postgresql/$PG_VERSION/$PG_CLUSTER/conf.d/codingbrain.conf
PG_SECRETS=$STATE_DIR/postgres/secrets

postgres_install() {
    apt_install postgresql postgresql-contrib
    # The package creates the "main" cluster; recreate it if someone dropped it.
    if [[ ! -d $PG_DATA ]]; then
        pg_createcluster "$PG_VERSION" "$PG_CLUSTER" --port "$PG_PORT" >>"$STATE_DIR/apt.log" 2>&1
    fi
}

# Generates the two role passwords once; later runs reuse them.
postgres_secrets() {
    if [[ ! -s $PG_SECRETS ]]; then
        mkdir -p "$(dirname "$PG_SECRETS")"
        (
            umask 077
            printf 'PG_OWNER_PASSWORD=%s\nPG_APP_PASSWORD=%s\n' \
                "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" \
                "$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')" >"$PG_SECRETS"
        )
    fi
    # shellcheck source=/dev/null
    source "$PG_SECRETS"
}

postgres_running() {
    pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" status >/dev/null 2>&1
}

# psql as the superuser over the Unix socket (peer authentication).
postgres_su_psql() {
    PGOPTIONS='-c client_min_messages=warning' \
        runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"
}

postgres_start() {
    postgres_secrets
    ln -sfn "/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log" "$STATE_DIR/postgres.log"

    # Loopback only, fixed port, and pg_stat_statements preloaded so that
    # benchmarks can count statements. Changing these needs a restart.
    local conf
    conf=$(printf '%s\n' \
        '# Written by e2e/services/postgres/service.sh' \
        "listen_addresses = '127.0.0.1'" \
        "port = $PG_PORT" \
        "shared_preload_libraries = 'pg_stat_statements'")
    local restart=0
    if [[ ! -f $PG_CONF_FILE ]] || [[ "$(cat "$PG_CONF_FILE")" != "$conf" ]]; then
        printf '%s\n' "$conf" >"$PG_CONF_FILE"
        restart=1
    fi

    if ! postgres_running; then
        log "postgres: starting cluster $PG_VERSION/$PG_CLUSTER"
        pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start </dev/null >>"$STATE_DIR/postgres.start.log" 2>&1 ||
            die "pg_ctlcluster start failed, see $STATE_DIR/postgres.log"
    elif ((restart)) || [[ "$(postgres_su_psql -Atc 'SHOW shared_preload_libraries')" != *pg_stat_statements* ]]; then
        log "postgres: restarting cluster to apply $PG_CONF_FILE"
        pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" restart -m fast </dev/null >>"$STATE_DIR/postgres.start.log" 2>&1 ||
            die "pg_ctlcluster restart failed, see $STATE_DIR/postgres.log"
    fi
    head -n1 "$PG_DATA/postmaster.pid" >"$(pidfile postgres)"
    wait_until 30 "postgres to accept connections" postgres_su_psql -Atc 'SELECT 1'

    # Roles, database and schema privileges; idempotent, so it runs on every
    # start (and resets the passwords to the ones in $PG_SECRETS).
    postgres_su_psql -d postgres -v owner_pw="$PG_OWNER_PASSWORD" -v app_pw="$PG_APP_PASSWORD" \
        <"$SERVICES_DIR/postgres/setup.sql"
}

postgres_url() { # ROLE PASSWORD
    printf 'postgres://%s:%s@127.0.0.1:%s/%s?sslmode=disable' "$1" "$2" "$PG_PORT" "$PG_DB"
}

# Healthy when the application role can log in over TCP and run a query.
postgres_healthy() {
    [[ -s $PG_SECRETS ]] || return 1
    postgres_secrets
    [[ "$(psql -X -Atq "$(postgres_url "$PG_APP" "$PG_APP_PASSWORD")" -c 'SELECT 1' 2>/dev/null)" == 1 ]]
}

postgres_stop() {
    # pg_ctlcluster stops the postmaster through the pid file in its data
    # directory, the same pid as $STATE_DIR/postgres.pid. Fast mode: do not
    # wait for clients to disconnect.
    if postgres_running; then
        pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop -m fast </dev/null >>"$STATE_DIR/postgres.start.log" 2>&1
    fi
    rm -f "$(pidfile postgres)"
}

postgres_env() {
    postgres_secrets
    # Single quotes: the values hold '?' and '=' (passwords are hex).
    printf "export DATABASE_URL='%s'\n" "$(postgres_url "$PG_APP" "$PG_APP_PASSWORD")"
    printf "export DATABASE_OWNER_URL='%s'\n" "$(postgres_url "$PG_OWNER" "$PG_OWNER_PASSWORD")"
}
