#!/bin/bash
# Init hook for the postgres image in docker-compose.yml (mounted into
# /docker-entrypoint-initdb.d/, run once on an empty data directory): creates
# the codingbrain database and roles exactly as e2e/services/up does.
set -euo pipefail
psql -X -q -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_pw="$CODINGBRAIN_OWNER_PASSWORD" -v app_pw="$CODINGBRAIN_APP_PASSWORD" \
    -f /codingbrain/setup.sql
