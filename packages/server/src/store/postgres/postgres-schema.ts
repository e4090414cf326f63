import { KEYS_BEFORE_STATUS_INSTANCE_JSON } from '../every-event-lists.ts';

/**
 * The PostgreSQL schema, applied in order; `pombo_schema_version` records how many steps a database
 * has seen. Tables are prefixed `pombo_`: the schema is often one Evolution API (or another
 * application) already uses, and `events` or `instances` are common names.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE pombo_instances (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    token TEXT NOT NULL,
    integration TEXT NOT NULL,
    number TEXT,
    state TEXT NOT NULL DEFAULT 'close',
    owner_jid TEXT,
    profile_name TEXT,
    channels JSONB NOT NULL DEFAULT '{}',
    last_seq BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
  );
  -- data is TEXT, not JSONB: the exact JSON text appended is what channels send back (dataJson).
  CREATE TABLE pombo_events (
    pos BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    instance_id TEXT NOT NULL,
    instance TEXT NOT NULL,
    seq BIGINT NOT NULL,
    event TEXT NOT NULL,
    data TEXT NOT NULL,
    sender TEXT,
    producer_id TEXT,
    created_at BIGINT NOT NULL
  );
  CREATE UNIQUE INDEX pombo_events_instance_seq ON pombo_events (instance_id, seq);
  CREATE UNIQUE INDEX pombo_events_producer ON pombo_events (instance_id, producer_id) WHERE producer_id IS NOT NULL;
  CREATE INDEX pombo_events_instance_pos ON pombo_events (instance_id, pos);
  -- Times never go back along the log, so a block range index is enough for time ranges and retention,
  -- and costs next to nothing per append.
  CREATE INDEX pombo_events_created ON pombo_events USING BRIN (created_at);
  CREATE TABLE pombo_cursors (
    destination TEXT PRIMARY KEY,
    pos BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE TABLE pombo_deliveries (
    destination TEXT NOT NULL,
    pos BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    event TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts TEXT NOT NULL,
    next_attempt_at BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (destination, pos)
  );
  CREATE INDEX pombo_deliveries_status ON pombo_deliveries (destination, status, pos);
  CREATE INDEX pombo_deliveries_pending ON pombo_deliveries (pos) WHERE status = 'pending';
  `,
  // Envelope members beside data (a history sync's isLatest and progress), as JSON text; NULL for most events.
  `ALTER TABLE pombo_events ADD COLUMN extra TEXT;`,
  // Cluster mode (docs/cluster.md): nodes' heartbeats, and one lease per destination, its epoch growing with each claim.
  `
  CREATE TABLE pombo_nodes (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE TABLE pombo_leases (
    destination TEXT PRIMARY KEY,
    node_id TEXT,
    epoch BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL DEFAULT 0
  );
  CREATE INDEX pombo_leases_node ON pombo_leases (node_id);
  `,
  // Durable realtime subscribers' leases (cluster mode): the node where a subscriber's newest connection
  // attached takes it over, whoever held it, raising its epoch; the floor writes of older holders are refused.
  `
  CREATE TABLE pombo_subscriber_leases (
    subscriber TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    taken_at BIGINT NOT NULL
  );
  `,
  // Cluster mode: each lease carries its holder's last published status of the destination (JSON, with
  // the database's time), for the other nodes' status routes; replays asked on a node that does not hold
  // the destination wait here for the node that does.
  `
  ALTER TABLE pombo_leases ADD COLUMN status TEXT, ADD COLUMN status_at BIGINT;
  CREATE TABLE pombo_replays (
    id BIGSERIAL PRIMARY KEY,
    destination TEXT NOT NULL,
    event_ids TEXT[] NOT NULL,
    requested_at BIGINT NOT NULL
  );
  CREATE INDEX pombo_replays_destination ON pombo_replays (destination);
  `,
  // The log's head, one row: the newest position and event time. An append updates it in the statement
  // that writes the events and holds its row lock to COMMIT: appends of every node are serialized by it,
  // positions become visible in commit order, and a rolled-back append leaves no gap. It replaces the
  // sequence (and the advisory lock) that allocated positions before; it starts past what they allocated.
  `
  CREATE TABLE pombo_log_head (
    only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    pos BIGINT NOT NULL,
    created_at BIGINT NOT NULL
  );
  INSERT INTO pombo_log_head (pos, created_at) SELECT
    GREATEST(COALESCE((SELECT MAX(pos) FROM pombo_events), 0), (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM pombo_events_pos_seq)),
    COALESCE((SELECT created_at FROM pombo_events ORDER BY pos DESC LIMIT 1), 0);
  `,
  // A number (owner_jid) is one instance's. Each node checked it against the instances it keeps in memory,
  // which concurrent requests and other nodes could both pass: the index holds the rule for all of them.
  // A number two instances got that way stays with the first (by creation, as the nodes' memory routed
  // it); the others lose it, as a node refuses it to them now. The table is locked against writes first
  // (until the migrations' transaction commits): a node of the version before, still running during an
  // upgrade, could otherwise give a number to a second instance between the UPDATE and the index's build,
  // which would then fail.
  `
  LOCK TABLE pombo_instances IN SHARE ROW EXCLUSIVE MODE;
  UPDATE pombo_instances SET owner_jid = NULL WHERE id IN (
    SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY owner_jid ORDER BY created_at, name) AS n
      FROM pombo_instances WHERE owner_jid IS NOT NULL) AS holders
    WHERE n > 1);
  CREATE UNIQUE INDEX pombo_instances_owner_jid ON pombo_instances (owner_jid) WHERE owner_jid IS NOT NULL;
  `,
  // Idempotency-Keys (KeyClaim in store/types.ts): the request that holds each key, by its fingerprint,
  // and the events it stored. An append claims a key in the statement that writes its events: another
  // node's claim of the key in the meantime fails that statement on the primary key, and the batch goes
  // round again. Pruned once retention has deleted those events.
  `
  CREATE TABLE pombo_idempotency_keys (
    instance_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    event_ids TEXT[] NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (instance_id, key)
  );
  CREATE INDEX pombo_idempotency_keys_created ON pombo_idempotency_keys (created_at);
  `,
  // `events` lists that meant every event as the keys there were then: stored as no list from now on,
  // or as they read until now (every-event-lists.ts), at any depth of `channels` (paths found first,
  // then edited one by one). Locked against writes as above: a node of the version before must not
  // change a list between its path being found and its edit.
  `
  LOCK TABLE pombo_instances IN SHARE ROW EXCLUSIVE MODE;
  DO $every_event$
  DECLARE list record;
  BEGIN
    FOR list IN
      WITH RECURSIVE nodes (id, path, value) AS (
        SELECT id, ARRAY[]::text[], channels FROM pombo_instances
        UNION ALL
        SELECT nodes.id, nodes.path || member.key, member.value
        FROM nodes CROSS JOIN LATERAL (
          SELECT key, value FROM jsonb_each(CASE WHEN jsonb_typeof(nodes.value) = 'object' THEN nodes.value END)
          UNION ALL
          SELECT (i - 1)::text, value FROM jsonb_array_elements(CASE WHEN jsonb_typeof(nodes.value) = 'array' THEN nodes.value END) WITH ORDINALITY AS item (value, i)
        ) AS member
      ),
      found AS (
        SELECT id, path, path <> ARRAY['realtime', 'events'] AND value ? 'WEBHOOK_DISABLED' AS every, value ? 'STATUS_INSTANCE' AS has_status
        FROM nodes
        WHERE path[cardinality(path)] = 'events' AND jsonb_typeof(value) = 'array' AND value @> '${KEYS_BEFORE_STATUS_INSTANCE_JSON}'::jsonb
      )
      SELECT id, path, every FROM found WHERE every OR NOT has_status
    LOOP
      UPDATE pombo_instances
        SET channels = CASE WHEN list.every THEN channels #- list.path ELSE jsonb_set(channels, list.path, (channels #> list.path) || '["STATUS_INSTANCE"]') END
        WHERE id = list.id;
    END LOOP;
  END $every_event$;
  `,
  // How many times each instance was written (Instance.version): raised by every statement that writes
  // one, so that a node keeps the newer of two copies whatever order its reads of them answer in (a row
  // read on a NOTIFY, a full refresh, its own write's RETURNING). Rows written before start at 1, as a
  // new one does.
  `ALTER TABLE pombo_instances ADD COLUMN version BIGINT NOT NULL DEFAULT 1;`,
  // A token is one instance's: two creations at once on two nodes could both pass the check each made in
  // memory, and the token then opened one instance on some nodes and the other on the rest. A token two
  // instances got that way stays with the first (by creation); the others get a new random one (an
  // operator reads it with the global key: fetchInstances). Locked against writes as above.
  `
  LOCK TABLE pombo_instances IN SHARE ROW EXCLUSIVE MODE;
  UPDATE pombo_instances SET token = replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), version = version + 1 WHERE id IN (
    SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY token ORDER BY created_at, name) AS n FROM pombo_instances) AS holders
    WHERE n > 1);
  CREATE UNIQUE INDEX pombo_instances_token ON pombo_instances (token);
  `,
];
