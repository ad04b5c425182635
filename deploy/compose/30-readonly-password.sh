#!/usr/bin/env bash
# Third PostgreSQL init step in compose.yaml: give warden_readonly (created by readonly_role.sql with a
# placeholder) the password from .env. psql quotes the value itself (:'password'), so any character is safe.
set -euo pipefail
if [[ -z ${WARDEN_READONLY_PASSWORD:-} ]]; then
  echo "WARDEN_READONLY_PASSWORD is empty: set it in .env (see .env.example)" >&2
  exit 1
fi
psql -v ON_ERROR_STOP=1 -v password="$WARDEN_READONLY_PASSWORD" \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
ALTER ROLE warden_readonly PASSWORD :'password';
SQL
