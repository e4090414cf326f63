import type { EnvReader } from './env-reader.ts';

/** Dot-separated words of letters, digits, `-` and `_`: valid in AMQP routing keys, NATS subjects and Kafka topics. */
const DOTTED_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/**
 * A name prefix such as `RABBITMQ_PREFIX_KEY=evolution`. Wildcards (`*`, `>`, `#`) or spaces would
 * change what consumers' bindings match, so they are refused at boot.
 */
export function dottedName(env: EnvReader, name: string, fallback: string): string {
  const value = env.str(name, fallback);
  if (DOTTED_NAME.test(value)) return value;
  env.problems.push(`${name}="${value}" must be words of letters, digits, "-" or "_", separated by dots (e.g. ${fallback})`);
  return fallback;
}

/** A URI the channel cannot work without, once it is enabled. */
export function requiredUri(env: EnvReader, name: string, protocols: readonly string[], example: string): string {
  if (!env.has(name)) {
    env.problems.push(`${name} is required when the channel is enabled (e.g. ${example})`);
    return example;
  }
  return env.url(name, undefined, protocols) ?? example;
}

/** Where a URI points, for logs and `find`: never its credentials. */
export function withoutCredentials(uri: string): string {
  try {
    const url = new URL(uri);
    url.username = '';
    url.password = '';
    url.search = '';
    return url.toString().replace(/\/$/, '');
  } catch {
    return '(invalid URI)';
  }
}
