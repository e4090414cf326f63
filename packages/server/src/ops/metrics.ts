import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every Prometheus metric Pombo exports, on one registry. */
export function createMetrics() {
  const registry = new Registry();
  // prom-client's own names start with process_ or nodejs_: pombo_process_cpu_seconds_total, pombo_nodejs_heap_size_used_bytes.
  collectDefaultMetrics({ register: registry, prefix: 'pombo_' });
  const brokerProbes = new Map<string, () => boolean>();
  const filteredTallies = new Set<() => void>();
  return {
    registry,
    eventsAppended: new Counter({
      name: 'pombo_events_appended_total',
      help: 'Events appended to the log',
      labelNames: ['event', 'source'] as const,
      registers: [registry],
    }),
    deliveries: new Counter({
      name: 'pombo_deliveries_total',
      help: 'Delivery attempts per channel, instance and outcome (delivered, retry, dead)',
      labelNames: ['channel', 'instance_name', 'outcome'] as const,
      registers: [registry],
    }),
    eventsFiltered: new Counter({
      name: 'pombo_events_filtered_total',
      help: "Events a destination's payload filter skipped (kept in the log, never delivered to it)",
      labelNames: ['channel', 'instance_name'] as const,
      registers: [registry],
      collect() {
        for (const flush of filteredTallies) flush();
      },
    }),
    deliveryLatency: new Histogram({
      name: 'pombo_delivery_latency_seconds',
      help: 'From append to successful delivery',
      labelNames: ['channel'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300],
      registers: [registry],
    }),
    destinationLag: new Gauge({
      name: 'pombo_destination_lag_events',
      help: 'Events the destination still owes: log positions between the head and its cursor, plus the pending retries behind the cursor (the largest, when an instance has several destinations of a channel)',
      labelNames: ['channel', 'instance_name'] as const,
      registers: [registry],
    }),
    destinationRetrying: new Gauge({
      name: 'pombo_destination_retrying',
      help: 'Deliveries not done that failed at least once: waiting for their retry, held by a paused circuit, or in flight again',
      labelNames: ['channel', 'instance_name'] as const,
      registers: [registry],
    }),
    clusterLeases: new Gauge({
      name: 'pombo_cluster_leases',
      help: 'Destination leases this node holds (cluster mode), labelled by its CLUSTER_NODE_ID',
      labelNames: ['node'] as const,
      registers: [registry],
    }),
    clusterFencedWrites: new Counter({
      name: 'pombo_cluster_fenced_writes_total',
      help: "Writes of this node refused because the lease went to another node (cluster mode): kind destination, a webhook or broker destination's cursor and delivery writes (a node that was paused or cut off while it delivered); kind subscriber, a durable realtime subscriber's floor writes (its client reconnected to another node)",
      labelNames: ['node', 'kind'] as const,
      registers: [registry],
    }),
    socketioConnections: new Gauge({
      name: 'pombo_socketio_connections',
      help: 'Connected Socket.IO sockets: the global key on "/" (scope root), an instance token on "/" (scope root-instance), in instance namespaces (scope instance)',
      labelNames: ['scope'] as const,
      registers: [registry],
    }),
    slowConnectionsDropped: new Counter({
      name: 'pombo_slow_connections_dropped_total',
      help: 'Connections dropped because the client did not read what was sent to it (WEBSOCKET_MAX_BUFFERED_BYTES, REALTIME_MAX_BUFFERED_BYTES)',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    brokerConnected: new Gauge({
      name: 'pombo_broker_connected',
      help: '1 while the broker channel is connected to its broker, else 0',
      labelNames: ['channel'] as const,
      registers: [registry],
      collect() {
        for (const [channel, connected] of brokerProbes) this.set({ channel }, connected() ? 1 : 0);
      },
    }),
    /** Registers how a broker channel tells whether it is connected (read on each scrape). */
    watchBroker(channel: string, connected: () => boolean): void {
      brokerProbes.set(channel, connected);
    },
    /**
     * Removes every series an instance's `instance_name` labels (`labels`: its name, and its id, which
     * older labels fell back to), once the instance is deleted and its destinations gone: else they would
     * stay in every scrape until a restart. Pending tallies are moved in first (the collect), then removed.
     */
    async removeInstance(labels: readonly string[]): Promise<void> {
      for (const metric of [this.deliveries, this.eventsFiltered, this.destinationLag, this.destinationRetrying]) {
        for (const { labels: series } of (await metric.get()).values) {
          if (labels.includes(String(series.instance_name))) metric.remove(series);
        }
      }
    },
    /**
     * Registers a tally of filtered events kept as plain numbers, moved into eventsFiltered on each
     * scrape (as DeliveryMetrics does: prom-client builds a label key per call). Returns its removal.
     */
    tallyFiltered(flush: () => void): () => void {
      filteredTallies.add(flush);
      return () => filteredTallies.delete(flush);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
