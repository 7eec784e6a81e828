#!/bin/sh
# Run once by Patroni on the first leader: govlink's role and its two databases.
set -e
psql -v ON_ERROR_STOP=1 -d "$1" <<SQL
CREATE ROLE govlink LOGIN PASSWORD '${GOVLINK_DB_PASSWORD}' CREATEDB;
CREATE DATABASE govlink OWNER govlink;
CREATE DATABASE keycloak OWNER govlink;
SQL
