-- Makes a Citus cluster of deploy/compose.citus.yaml's nodes: the coordinator and two workers,
-- each started by the citusdata/citus image with the citus extension in the `waymark` database.
-- Run on the coordinator as the owner, before `waymark migrate --citus`; it is idempotent.
--   psql -v owner_password=… -v service_password=… -f deploy/citus/cluster.sql
--
-- The nodes ask for passwords (scram-sha-256), so the coordinator needs the passwords of the
-- two logins that open connections to the workers: the owner (migrations, shard moves) and the
-- service (every request). pg_dist_authinfo keeps them for every node (node 0); Citus copies
-- the table to the workers, which open connections of their own when shards move.

\set ON_ERROR_STOP on

CREATE TEMP TABLE logins (rolename name, password text);
INSERT INTO logins VALUES ('postgres', :'owner_password'), ('waymark_service', :'service_password');

-- A conninfo value in single quotes, with backslashes and quotes escaped as libpq reads them.
DELETE FROM pg_dist_authinfo a USING logins l WHERE a.nodeid = 0 AND a.rolename = l.rolename;
INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo)
SELECT 0, rolename,
       'password=''' || replace(replace(password, '\', '\\'), '''', '\''') || ''''
FROM logins;

SELECT citus_set_coordinator_host('coordinator', 5432);
SELECT citus_add_node('worker-1', 5432);
SELECT citus_add_node('worker-2', 5432);
SELECT nodename, nodeport, noderole FROM pg_dist_node ORDER BY nodeid;
