import { KEYS_BEFORE_STATUS_INSTANCE_JSON } from '../every-event-lists.ts';

/** The SQLite schema, applied in order; `user_version` records how many steps a database has seen. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL,
    integration TEXT NOT NULL,
    number TEXT,
    state TEXT NOT NULL DEFAULT 'close',
    owner_jid TEXT,
    profile_name TEXT,
    channels TEXT NOT NULL DEFAULT '{}',
    last_seq INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
  );
  CREATE TABLE events (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    instance_id TEXT NOT NULL,
    instance TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    data TEXT NOT NULL,
    sender TEXT,
    producer_id TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX events_instance_seq ON events (instance_id, seq);
  CREATE UNIQUE INDEX events_producer ON events (instance_id, producer_id) WHERE producer_id IS NOT NULL;
  CREATE INDEX events_instance_pos ON events (instance_id, pos);
  CREATE INDEX events_created ON events (created_at);
  CREATE TABLE cursors (
    destination TEXT PRIMARY KEY,
    pos INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE deliveries (
    destination TEXT NOT NULL,
    pos INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    event TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts TEXT NOT NULL,
    next_attempt_at INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (destination, pos)
  ) WITHOUT ROWID;
  CREATE INDEX deliveries_status ON deliveries (destination, status, pos);
  CREATE INDEX deliveries_pending ON deliveries (status, pos) WHERE status = 'pending';
  `,
  // Event times never go back along the log (the store keeps them monotonic), so time ranges and
  // retention bisect positions instead: one index less to write per event.
  `DROP INDEX events_created;`,
  // Logs written before times were kept in order may hold a time that went back: each takes the
  // latest time before it, so that bisecting positions by time (retention, time ranges) holds for them.
  `UPDATE events SET created_at = clamped.t
     FROM (SELECT pos, MAX(created_at) OVER (ORDER BY pos) AS t FROM events) AS clamped
     WHERE clamped.pos = events.pos AND clamped.t > events.created_at;`,
  // Envelope members beside data (a history sync's isLatest and progress), as JSON text; NULL for most events.
  `ALTER TABLE events ADD COLUMN extra TEXT;`,
  // An instance's sequence numbers are unique by construction (read and moved inside each append's
  // transaction, and only one connection writes): the unique index checked nothing else, and writing
  // it cost a third of the raw append (docs/benchmarks-history.md, "Ingest, 4 Dec night").
  `DROP INDEX events_instance_seq;`,
  // Most records say `delivered` and are listed by position (the primary key): the status index keeps
  // only the others (failed, pending, …), one index write less per delivered event; the queries for
  // those name it (sqlite-store.ts, UNDELIVERED), as SQLite did not choose the full one either.
  `DROP INDEX deliveries_status;
   CREATE INDEX deliveries_status ON deliveries (destination, status, pos) WHERE status != 'delivered';`,
  // A number (owner_jid) is one instance's: checked in memory only, a connect and an ingested sender
  // could both pass the check across the connect's awaits. A number two instances got that way stays
  // with the first (by creation, as the memory routed it); the others lose it (postgres-schema.ts too).
  `UPDATE instances SET owner_jid = NULL WHERE id IN (
     SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY owner_jid ORDER BY created_at, name) AS n
       FROM instances WHERE owner_jid IS NOT NULL)
     WHERE n > 1);
   CREATE UNIQUE INDEX instances_owner_jid ON instances (owner_jid) WHERE owner_jid IS NOT NULL;`,
  // Idempotency-Keys (KeyClaim in store/types.ts): the request that holds each key, by its fingerprint,
  // and the ids of the events it stored (a JSON array). Claimed in the commit of those events, so of two
  // requests with one key only one appends; pruned once retention has deleted those events.
  `CREATE TABLE idempotency_keys (
     instance_id TEXT NOT NULL,
     key TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     event_ids TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (instance_id, key)
   ) WITHOUT ROWID;
   CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);`,
  // `events` lists that meant every event as the keys there were then: stored as no list from now on,
  // or as they read until now (every-event-lists.ts). Each instance's lists are edited one after the other,
  // and each instance is written once from its last edit (UPDATE … FROM: a subquery per row ran the whole
  // walk again for each instance, 43 s for 800 instances).
  `WITH RECURSIVE
     found AS (
       SELECT i.id, t.id AS node, t.fullkey AS path,
         t.fullkey <> '$.realtime.events' AND EXISTS (SELECT 1 FROM json_each(t.value) AS e WHERE e.value = 'WEBHOOK_DISABLED') AS every,
         EXISTS (SELECT 1 FROM json_each(t.value) AS e WHERE e.value = 'STATUS_INSTANCE') AS has_status
       FROM instances AS i, json_tree(i.channels) AS t
       WHERE t.key = 'events' AND t.type = 'array'
         AND NOT EXISTS (SELECT 1 FROM json_each('${KEYS_BEFORE_STATUS_INSTANCE_JSON}') AS k
           WHERE k.value NOT IN (SELECT e.value FROM json_each(t.value) AS e))
     ),
     edits AS (SELECT id, path, every, ROW_NUMBER() OVER (PARTITION BY id ORDER BY node) AS n FROM found WHERE every OR NOT has_status),
     edited (id, channels, n) AS (
       SELECT id, channels, 0 FROM instances WHERE id IN (SELECT id FROM edits)
       UNION ALL
       SELECT edited.id,
         CASE WHEN edits.every THEN json_remove(edited.channels, edits.path) ELSE json_insert(edited.channels, edits.path || '[#]', 'STATUS_INSTANCE') END,
         edits.n
       FROM edited JOIN edits ON edits.id = edited.id AND edits.n = edited.n + 1
     ),
     last AS (SELECT id, channels, ROW_NUMBER() OVER (PARTITION BY id ORDER BY n DESC) AS r FROM edited)
   UPDATE instances SET channels = last.channels FROM last WHERE last.id = instances.id AND last.r = 1;`,
  // How many times each instance was written (Instance.version): raised by every statement that writes
  // one, so that the newer of two copies is known whatever order they were read in. Rows written before
  // start at 1, as a new one does.
  `ALTER TABLE instances ADD COLUMN version INTEGER NOT NULL DEFAULT 1;`,
  // A token is one instance's: two creations at once could both pass the check made in memory. A token two
  // instances got that way stays with the first (by creation); the others get a new random one, as the
  // old one opened either of them (an operator reads it with the global key: fetchInstances).
  `UPDATE instances SET token = lower(hex(randomblob(24))), version = version + 1 WHERE id IN (
     SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY token ORDER BY created_at, name) AS n FROM instances)
     WHERE n > 1);
   CREATE UNIQUE INDEX instances_token ON instances (token);`,
];
