/**
 * One broker in `bench/brokers.ts`: how Pombo is configured to publish to it, and how the raw client
 * library publishes the very same payloads with the same guarantee (broker confirms), as the baseline.
 */
export interface BrokerBench {
  /** Shown in the results ("RabbitMQ", "NATS JetStream"). */
  readonly name: string;
  /** The Pombo channel (`rabbitmq`, `nats`…): the body key of `/instance/create` and the destination id prefix. */
  readonly channel: string;
  /** False (with the reason printed) skips this broker. */
  available(): Promise<boolean>;
  /** Variables that make Pombo publish to this broker; `run` is unique per run (names, prefixes). */
  env(run: string): Record<string, string>;
  /** Publishes the payloads with the raw client library, as they would be under Pombo's names, and waits for every confirm. */
  publishRaw(run: string, instance: string, payloads: readonly RawPayload[]): Promise<void>;
  /**
   * A weaker baseline the summary once used, measured once per run beside the fair one so that the
   * change of baseline stays visible (NATS: `js.publish()`, one request per message).
   */
  readonly previousBaseline?: { readonly name: string; publishRaw: BrokerBench['publishRaw'] };
  /** Removes what both sides declared (queues, exchanges, streams). */
  cleanup(run: string, instance: string): Promise<void>;
}

/** One message as Pombo published it: the envelope's bytes, its event id and dotted name, and the headers Pombo sent with it. */
export interface RawPayload {
  readonly id: string;
  readonly event: string;
  readonly body: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}
