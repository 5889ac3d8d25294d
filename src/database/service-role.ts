import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source-options.js';
import { runMigrationsLocked } from './run-migrations.js';

/**
 * The audit log's tables: the service's role may read them, and add events, nothing more. What
 * else the service does to them (moving the chain head, keeping the rollups, creating and dropping
 * monthly partitions) goes through functions that run as their owner (migration
 * 1795780000000-AuditDefinerFunctions).
 */
const AUDIT_EVENTS = 'audit_event';
/** Signed checkpoints of the chain: added by the service, never changed (verify trusts only their file). */
const AUDIT_CHECKPOINTS = 'audit_checkpoint';
/** Where each audit stream stands: read, created and moved forward by the forwarder (docs/siem.md). */
const AUDIT_FORWARD_CURSOR = 'audit_forward_cursor';
const AUDIT_READ_ONLY = [
  'audit_chain_head',
  'audit_chain_anchor',
  'audit_rollup_hourly',
  'audit_failure_rollup_daily',
  'audit_rollup_state',
  'audit_token_rollup_daily',
];
/** The service's own tables: read and written by it. */
const SERVICE_TABLES = [
  'users',
  'api_tokens',
  'revocation_event',
  'mcp_client',
  'user_identities',
  'oauth_model',
  'webhook_endpoint',
  'webhook_delivery',
  'webhook_outbox_state',
  'webhook_reminder',
];
/** The admins' token policy: one row, created by its migration, read and changed by the service. */
const TOKEN_POLICY = 'token_policy';
/** The functions the service calls. */
const FUNCTIONS = [
  '"audit_append"(timestamptz[], varchar[], varchar[], uuid[], uuid[], varchar[], varchar[], varchar[], double precision[], jsonb[], text[])',
  '"audit_rollup_catch_up"(boolean)',
  '"audit_rollup_rebuild"(timestamptz, timestamptz)',
  '"audit_ensure_partition"(timestamptz)',
  '"audit_drop_partitions"(text[], bigint, text, bigint, timestamptz)',
];

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * Gives `role` what the service needs and no more, on the schema as migrated by the connection's
 * role (the owner). Run at every start, after the migrations: a table a later migration adds is
 * covered by the next start. Idempotent.
 */
export async function grantServiceRole(owner: DataSource, role: string): Promise<void> {
  const r = ident(role);
  await owner.transaction(async (m) => {
    await m.query(`GRANT USAGE ON SCHEMA public TO ${r}`);
    await m.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${SERVICE_TABLES.map(ident).join(', ')} TO ${r}`);
    await m.query(`GRANT SELECT, UPDATE ON ${ident(TOKEN_POLICY)} TO ${r}`);
    await m.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${r}`);
    await m.query(`GRANT SELECT ON "migrations" TO ${r}`);
    await m.query(`GRANT SELECT, INSERT ON ${ident(AUDIT_EVENTS)}, ${ident(AUDIT_CHECKPOINTS)} TO ${r}`);
    await m.query(`GRANT SELECT ON ${AUDIT_READ_ONLY.map(ident).join(', ')} TO ${r}`);
    await m.query(`GRANT SELECT, INSERT, UPDATE ON ${ident(AUDIT_FORWARD_CURSOR)} TO ${r}`);
    // Retention reads a partition by its name before dropping it: SELECT on each one, and on those
    // audit_ensure_partition will create (as the owner).
    const parts = (await m.query(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '"audit_event"'::regclass`,
    )) as { name: string }[];
    for (const p of parts) await m.query(`GRANT SELECT ON ${ident(p.name)} TO ${r}`);
    await m.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO ${r}`);
    for (const fn of FUNCTIONS) await m.query(`GRANT EXECUTE ON FUNCTION ${fn} TO ${r}`);
  });
}

/** Grants the role of `service` (the pool) what it needs, unless it is `owner`'s role itself. */
export async function grantToServiceOf(owner: DataSource, service: DataSource): Promise<void> {
  const [{ role }] = (await service.query(`SELECT current_user AS role`)) as { role: string }[];
  const [{ me }] = (await owner.query(`SELECT current_user AS me`)) as { me: string }[];
  if (me !== role) await grantServiceRole(owner, role);
}

/**
 * Migrations as the owner (`migrationUrl`), then the grants to the service's role, the role of
 * `service` (the pool): both under the migrations' lock, so that instances starting at once take
 * turns. A service that connects as the owner itself needs no grant.
 */
export async function migrateAsOwner(migrationUrl: string, service: DataSource): Promise<void> {
  const owner = await new DataSource(dataSourceOptions(migrationUrl, { poolSize: 2, applicationName: 'hospiai-migrate' })).initialize();
  try {
    await runMigrationsLocked(owner, () => grantToServiceOf(owner, service));
  } finally {
    await owner.destroy().catch(() => undefined);
  }
}
