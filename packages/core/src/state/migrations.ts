/**
 * Numbered schema migrations. Append only: a released migration is never edited. Each runs in
 * its own IMMEDIATE transaction and is recorded in `schema_migrations`.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE domains (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        status        TEXT NOT NULL,
        account_id    TEXT,
        refreshed_at  INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE cnames (
        id                  TEXT PRIMARY KEY,
        hostname            TEXT NOT NULL,
        zone_id             TEXT NOT NULL,
        zone_name           TEXT NOT NULL,
        owner               TEXT NOT NULL,
        service_container   TEXT,
        service_port        INTEGER NOT NULL CHECK (service_port BETWEEN 1 AND 65535),
        service_scheme      TEXT NOT NULL CHECK (service_scheme IN ('http','https','tcp','ssh')),
        target              TEXT NOT NULL,
        target_reason       TEXT NOT NULL,
        dns_record_id       TEXT,
        state               TEXT NOT NULL CHECK (state IN ('reserved','ingress_written','dns_created','active','deleting','dns_deleted','ingress_removed','deleted','failed')),
        last_error_code     TEXT,
        last_error_message  TEXT,
        created_at          INTEGER NOT NULL,
        updated_at          INTEGER NOT NULL
      ) STRICT;
      -- A hostname is held by at most one route that is not deleted or failed.
      CREATE UNIQUE INDEX cnames_live_hostname ON cnames(hostname) WHERE state NOT IN ('deleted','failed');
      CREATE INDEX cnames_owner_state ON cnames(owner, state);
      -- Listing is ordered by hostname: the index spares a sort of every route.
      CREATE INDEX cnames_hostname ON cnames(hostname, created_at);
      CREATE INDEX cnames_state ON cnames(state);

      CREATE TABLE tunnel_health (
        id                 INTEGER PRIMARY KEY,
        at                 INTEGER NOT NULL,
        status             TEXT NOT NULL CHECK (status IN ('healthy','degraded','down')),
        process_state      TEXT NOT NULL,
        ready_connections  INTEGER,
        latency_ms         INTEGER,
        api_status         TEXT,
        failing_check      TEXT,
        detail             TEXT
      ) STRICT;
      CREATE INDEX tunnel_health_at ON tunnel_health(at);

      CREATE TABLE audit_log (
        id           INTEGER PRIMARY KEY,
        at           INTEGER NOT NULL,
        actor        TEXT NOT NULL,
        project      TEXT,
        action       TEXT NOT NULL,
        target       TEXT,
        params       TEXT NOT NULL,
        outcome      TEXT NOT NULL CHECK (outcome IN ('ok','error')),
        error_code   TEXT,
        message      TEXT,
        duration_ms  INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX audit_log_at ON audit_log(at);
      CREATE INDEX audit_log_project_at ON audit_log(project, at);
      CREATE INDEX audit_log_action_at ON audit_log(action, at);

      CREATE TABLE docker_networks (
        id        TEXT PRIMARY KEY,
        name      TEXT NOT NULL,
        driver    TEXT NOT NULL,
        internal  INTEGER NOT NULL,
        gateway   TEXT,
        subnet    TEXT
      ) STRICT;

      CREATE TABLE docker_containers (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        image         TEXT NOT NULL,
        command       TEXT NOT NULL,
        state         TEXT NOT NULL,
        network_mode  TEXT NOT NULL,
        labels        TEXT NOT NULL,
        extra_hosts   TEXT NOT NULL
      ) STRICT;
      CREATE INDEX docker_containers_name ON docker_containers(name);

      CREATE TABLE container_networks (
        container_id  TEXT NOT NULL REFERENCES docker_containers(id) ON DELETE CASCADE,
        network_id    TEXT NOT NULL,
        network_name  TEXT NOT NULL,
        ip_address    TEXT,
        gateway       TEXT,
        aliases       TEXT NOT NULL,
        PRIMARY KEY (container_id, network_name)
      ) STRICT;

      CREATE TABLE container_ports (
        container_id    TEXT NOT NULL REFERENCES docker_containers(id) ON DELETE CASCADE,
        container_port  INTEGER NOT NULL,
        protocol        TEXT NOT NULL,
        exposed         INTEGER NOT NULL,
        host_ip         TEXT,
        host_port       INTEGER
      ) STRICT;
      CREATE INDEX container_ports_container ON container_ports(container_id);

      CREATE TABLE api_tokens (
        id            TEXT PRIMARY KEY,
        hash          TEXT NOT NULL UNIQUE,
        actor_kind    TEXT NOT NULL CHECK (actor_kind IN ('project','admin')),
        project       TEXT,
        label         TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        last_used_at  INTEGER,
        revoked_at    INTEGER,
        CHECK ((actor_kind = 'project') = (project IS NOT NULL))
      ) STRICT;

      CREATE TABLE restart_requests (
        id            INTEGER PRIMARY KEY,
        at            INTEGER NOT NULL,
        reason        TEXT NOT NULL,
        requested_by  TEXT NOT NULL
      ) STRICT;

      -- Small facts that belong to no table: the topology snapshot header, lock owners…
      CREATE TABLE meta (
        key    TEXT PRIMARY KEY,
        value  TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'instance identity',
    sql: `
      -- The owner marks of remote ingress rules (they were in <dataDir>/remote-ingress-owners.json).
      CREATE TABLE ingress_rule_owners (
        tunnel_id  TEXT NOT NULL,
        position   INTEGER NOT NULL,
        hostname   TEXT NOT NULL,
        path       TEXT NOT NULL,
        service    TEXT NOT NULL,
        owner      TEXT NOT NULL,
        instance   TEXT,
        PRIMARY KEY (tunnel_id, position)
      ) STRICT;

      -- What an adopting route replaced, so deleting the route can put it back.
      CREATE TABLE replaced_records (
        route_id   TEXT NOT NULL REFERENCES cnames(id),
        position   INTEGER NOT NULL,
        record_id  TEXT NOT NULL,
        name       TEXT NOT NULL,
        type       TEXT NOT NULL,
        content    TEXT NOT NULL,
        proxied    INTEGER NOT NULL,
        ttl        INTEGER NOT NULL,
        comment    TEXT,
        PRIMARY KEY (route_id, position)
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: 'route-options',
    // A hostname may now have several routes, one per path ('' = the path-less rule), all
    // owned by the hostname's owner (checked on reserve, since SQL cannot say "one owner per
    // hostname" without a second table). Wildcard routes need no column: their hostname
    // starts with "*.".
    sql: `
      ALTER TABLE cnames ADD COLUMN path TEXT NOT NULL DEFAULT '';
      ALTER TABLE cnames ADD COLUMN origin_request TEXT;
      DROP INDEX cnames_live_hostname;
      CREATE UNIQUE INDEX cnames_live_hostname_path ON cnames(hostname, path) WHERE state NOT IN ('deleted','failed');
      CREATE INDEX cnames_live_hostname ON cnames(hostname) WHERE state NOT IN ('deleted','failed');
    `,
  },
  {
    version: 4,
    name: 'docker label publishing',
    sql: `
      -- Routes (hostname, path) published from container labels (docker.labels): what was
      -- asked, and since when no container asks for it any more (unpublished after
      -- docker.labels.gracePeriodMs). path '' is the hostname's path-less route (a key column
      -- holds no NULL: NULLs would never collide).
      CREATE TABLE label_publications (
        hostname        TEXT NOT NULL,
        path            TEXT NOT NULL DEFAULT '',
        project         TEXT NOT NULL,
        service         TEXT NOT NULL,
        origin_request  TEXT,
        containers      TEXT NOT NULL,
        missing_since   INTEGER,
        updated_at      INTEGER NOT NULL,
        PRIMARY KEY (hostname, path)
      ) STRICT;

      -- Containers whose labels could not be published, as of the last pass, for \`tunnel status\`.
      CREATE TABLE label_problems (
        container_id    TEXT PRIMARY KEY,
        container_name  TEXT NOT NULL,
        project         TEXT,
        hostname        TEXT,
        code            TEXT NOT NULL,
        message         TEXT NOT NULL,
        first_seen      INTEGER NOT NULL,
        last_seen       INTEGER NOT NULL,
        count           INTEGER NOT NULL
      ) STRICT;
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
