import Database from 'better-sqlite3';
import { MIGRATIONS } from '../src/index.js';

/**
 * Writes a SQLite file as release 1 left it (schema version 1, one active route) for upgrade
 * tests: today's store cannot open an old schema itself, its statements need the later columns.
 */
export function writeRelease1Database(path: string, route: { hostname: string; zoneId: string }): void {
  const raw = new Database(path);
  try {
    raw.exec(MIGRATIONS.find((m) => m.version === 1)?.sql ?? '');
    raw.exec(
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT; INSERT INTO schema_migrations VALUES (1, 'initial', 0);",
    );
    raw
      .prepare(
        `INSERT INTO cnames (id, hostname, zone_id, zone_name, owner, service_container, service_port, service_scheme,
          target, target_reason, dns_record_id, state, created_at, updated_at)
         VALUES ('r1', ?, ?, 'example.com', 'shop', NULL, 3000, 'http', 'http://localhost:3000',
          'host', 'rec-1', 'active', 1, 1)`,
      )
      .run(route.hostname, route.zoneId);
  } finally {
    raw.close();
  }
}
