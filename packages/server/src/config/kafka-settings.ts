import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { redactUrlText } from '../ops/redact.ts';
import type { EnvReader } from './env-reader.ts';
import { dottedName } from './broker-env.ts';

export type SaslMechanism = 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';

export interface KafkaSettings {
  readonly clientId: string;
  /** `host:port` of each bootstrap broker. */
  readonly brokers: string[];
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** First word of every topic: `{prefix}.{instance}.{event-kebab}` and `{prefix}.global.{event-kebab}`. */
  readonly prefix: string;
  /**
   * Create missing topics (with `partitions` and `replicationFactor`); else the brokers create them on
   * first use if their `auto.create.topics.enable` allows (with their defaults), and otherwise a missing
   * topic is a delivery error, retried.
   */
  readonly autoCreateTopics: boolean;
  readonly partitions: number;
  readonly replicationFactor: number;
  /** Above this many bytes a message becomes a reference to the event (the broker's `message.max.bytes`). */
  readonly maxMessageBytes: number;
  readonly sasl: { mechanism: SaslMechanism; username: string; password: string } | undefined;
  readonly tls: { rejectUnauthorized: boolean; ca?: string; key?: string; cert?: string } | undefined;
}

const MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** `KAFKA_BROKERS`: comma-separated `host:port` (the port defaults to 9092). */
function parseBrokers(env: EnvReader): string[] {
  const brokers: string[] = [];
  for (const item of env.list('KAFKA_BROKERS', ['localhost:9092'])) {
    const match = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::(\d{1,5}))?$/.exec(item);
    const port = Number(match?.[2] ?? 9092);
    if (!match || port < 1 || port > 65535) env.problems.push(`KAFKA_BROKERS has "${redactUrlText(item)}", which is not a host:port address`);
    else brokers.push(`${match[1]}:${port}`);
  }
  return brokers;
}

/**
 * A PEM for TLS: the seed shows a path (`/path/to/ca.pem`), Evolution API reads the PEM text itself;
 * both work. An unreadable path stops the boot rather than failing every publish later. `shown`
 * names the value in messages: the variable and its path, never the text (it may be a private key).
 */
function pem(env: EnvReader, name: string): { text: string; shown: string } | undefined {
  const value = env.str(name);
  if (value === undefined) return undefined;
  if (value.includes('-----BEGIN')) return { text: value.replaceAll('\\n', '\n'), shown: name };
  try {
    return { text: readFileSync(value, 'utf8'), shown: `${name}="${value}"` };
  } catch {
    env.problems.push(`${name}="${value}" is neither a PEM nor the path of a readable file`);
    return undefined;
  }
}

/**
 * Whether a PEM holds certificates, all of them readable. Checked at boot because Node silently
 * ignores an unreadable CA, which would surface later as an obscure verification error.
 */
function holdsCertificates(text: string): boolean {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  try {
    for (const block of blocks) new X509Certificate(block);
    return blocks.length > 0;
  } catch {
    return false;
  }
}

function holdsPrivateKey(text: string): boolean {
  try {
    createPrivateKey(text);
    return true;
  } catch {
    return false;
  }
}

function readSasl(env: EnvReader): KafkaSettings['sasl'] {
  if (!env.bool('KAFKA_SASL_ENABLED', false)) return undefined;
  const mechanism = env.oneOf('KAFKA_SASL_MECHANISM', MECHANISMS, 'plain').toUpperCase() as SaslMechanism;
  const username = env.str('KAFKA_SASL_USERNAME');
  const password = env.str('KAFKA_SASL_PASSWORD');
  if (!username || !password) env.problems.push('KAFKA_SASL_ENABLED=true needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD');
  return { mechanism, username: username ?? '', password: password ?? '' };
}

function readTls(env: EnvReader): KafkaSettings['tls'] {
  if (!env.bool('KAFKA_SSL_ENABLED', false)) return undefined;
  const [ca, key, cert] = [pem(env, 'KAFKA_SSL_CA'), pem(env, 'KAFKA_SSL_KEY'), pem(env, 'KAFKA_SSL_CERT')];
  const usableKey = key !== undefined && holdsPrivateKey(key.text);
  const usableCert = cert !== undefined && holdsCertificates(cert.text);
  if (ca && !holdsCertificates(ca.text)) env.problems.push(`${ca.shown} holds no readable PEM certificate`);
  if (cert && !usableCert) env.problems.push(`${cert.shown} holds no readable PEM certificate`);
  if (key && !usableKey) env.problems.push(`${key.shown} holds no readable PEM private key (an unencrypted one)`);
  if ((key === undefined) !== (cert === undefined)) env.problems.push('KAFKA_SSL_KEY and KAFKA_SSL_CERT go together (client certificate authentication)');
  if (usableKey && usableCert) {
    try {
      createSecureContext({ key: key.text, cert: cert.text });
    } catch (error) {
      env.problems.push(`KAFKA_SSL_KEY and KAFKA_SSL_CERT are not a key and its certificate (${(error as Error).message})`);
    }
  }
  return {
    rejectUnauthorized: env.bool('KAFKA_SSL_REJECT_UNAUTHORIZED', true),
    ...(ca === undefined ? {} : { ca: ca.text }),
    ...(key === undefined ? {} : { key: key.text }),
    ...(cert === undefined ? {} : { cert: cert.text }),
  };
}

/**
 * Reads the Kafka variables (seed 001 names plus `KAFKA_MAX_MESSAGE_BYTES`); problems go to
 * `env.problems`. `KAFKA_CONSUMER_GROUP_ID` is accepted and unused: Pombo never consumes its own
 * topics (Evolution API did, taking partitions from users' consumers in the same group).
 */
export function readKafkaSettings(env: EnvReader): KafkaSettings {
  const clientId = env.str('KAFKA_CLIENT_ID', 'evolution-api');
  if (!/^[A-Za-z0-9._-]+$/.test(clientId)) env.problems.push(`KAFKA_CLIENT_ID="${clientId}" must be letters, digits, ".", "_" or "-"`);
  const requestTimeoutMs = env.int('KAFKA_REQUEST_TIMEOUT', 30_000, { min: 100 });
  return {
    clientId,
    brokers: parseBrokers(env),
    connectTimeoutMs: env.int('KAFKA_CONNECTION_TIMEOUT', 3000, { min: 100 }),
    requestTimeoutMs,
    prefix: dottedName(env, 'KAFKA_TOPIC_PREFIX', 'evolution'),
    autoCreateTopics: env.bool('KAFKA_AUTO_CREATE_TOPICS', false),
    partitions: env.int('KAFKA_NUM_PARTITIONS', 1, { min: 1, max: 100_000 }),
    replicationFactor: env.int('KAFKA_REPLICATION_FACTOR', 1, { min: 1, max: 32_767 }),
    maxMessageBytes: env.int('KAFKA_MAX_MESSAGE_BYTES', 1_000_000, { min: 1024 }),
    sasl: readSasl(env),
    tls: readTls(env),
  };
}
