#!/bin/sh
# Run once by the postgres image when its volume is first initialised (as POSTGRES_USER, the
# superuser, who owns the service's tables and runs its migrations): the role the service connects
# as, which owns nothing and is no superuser. The migrations grant it what it needs
# (docs/operations.md, "Database roles").
set -eu
: "${POSTGRES_SERVICE_PASSWORD:?set POSTGRES_SERVICE_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="$POSTGRES_SERVICE_PASSWORD" <<'SQL'
CREATE ROLE hospiai_service LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
SQL
