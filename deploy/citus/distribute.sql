-- Distributes a migrated Waymark database over a Citus cluster. Run on the coordinator, as the
-- owner, after the migrations (`waymark migrate --citus` does both); it is idempotent, so it
-- runs again after every migration and distributes only the tables that are new.
--
-- Platform tables (no federation_id) become reference tables, copied to every node. Every
-- tenant table is distributed by federation_id and colocated with practices, so a federation's
-- rows of every table live on one shard and every query the service makes (all name one
-- federation) is routed to that shard alone.
--
-- Citus will not distribute a table while a foreign key ties it to a table that is still local
-- (and turning a referenced table into a reference table would first convert every local table
-- referencing it, which tables under row-level security refuse). So the foreign keys that touch
-- a table not yet distributed are set aside, the tables distributed, and the keys added back,
-- checked again over the shards.

DO $$
DECLARE
    fk record;
    table_name regclass;
BEGIN
    -- The tables' triggers touch only their own row, or their own federation's rows of
    -- colocated tables (the ledger's balance checks, the directory version), so they may run
    -- on the shards.
    SET LOCAL citus.enable_unsafe_triggers = on;
    SET LOCAL citus.multi_shard_modify_mode = 'sequential';
    -- The tenant of a transaction is set with SET LOCAL at BEGIN; Citus sends such settings on
    -- to the workers only when asked to, and a policy reading an unset one matches nothing.
    EXECUTE format('ALTER DATABASE %I SET citus.propagate_set_commands = %L', current_database(), 'local');
    -- A statement is routed to one shard when it is planned with its parameters' values. A
    -- prepared statement run a sixth time may be given a generic plan, and Citus prunes some of
    -- those (an UPDATE … FROM unnest($2), for one) only at run time or not at all, sending the
    -- statement to every shard. Planning each execution afresh keeps every request on its
    -- federation's shard.
    EXECUTE format('ALTER DATABASE %I SET plan_cache_mode = %L', current_database(), 'force_custom_plan');

    CREATE TEMP TABLE waymark_set_aside ON COMMIT DROP AS
    SELECT k.conrelid::regclass AS on_table, k.conname::text AS name,
           pg_get_constraintdef(k.oid) AS definition
    FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace
    WHERE n.nspname = 'public' AND k.contype = 'f'
      AND (NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = k.conrelid)
           OR NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = k.confrelid));
    FOR fk IN SELECT * FROM waymark_set_aside LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.on_table, fk.name);
    END LOOP;

    FOR table_name IN
        SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> '_sqlx_migrations'
          AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                          AND a.attname = 'federation_id' AND a.attnotnull)
          AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid)
        ORDER BY c.relname
    LOOP
        RAISE NOTICE 'reference table %', table_name;
        PERFORM create_reference_table(table_name);
    END LOOP;

    IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'practices'::regclass) THEN
        RAISE NOTICE 'distributed table practices (the colocation group)';
        PERFORM create_distributed_table('practices', 'federation_id', colocate_with => 'none');
    END IF;
    FOR table_name IN
        SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r'
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                      AND a.attname = 'federation_id' AND a.attnotnull)
          AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid)
        ORDER BY c.relname
    LOOP
        RAISE NOTICE 'distributed table %', table_name;
        PERFORM create_distributed_table(table_name, 'federation_id', colocate_with => 'practices');
    END LOOP;

    FOR fk IN SELECT * FROM waymark_set_aside LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.on_table, fk.name, fk.definition);
    END LOOP;
END
$$;
