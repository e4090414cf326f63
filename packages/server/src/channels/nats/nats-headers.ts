import { MsgHdrsImpl, type MsgHdrs } from '@nats-io/transport-node';

/** A header name as the client accepts one: printable ASCII without a colon. */
const HEADER_NAME = /^[!-9;-~]+$/;
const LINE_BREAK = /[\r\n]/;
/** Names already found valid: a publisher sends the same few on every message, checked once each. */
const validNames = new Set<string>();
const MAX_REMEMBERED_NAMES = 256;

/**
 * NATS headers from names and values, with `Nats-Msg-Id` when given. Built with the client's
 * `MsgHdrsImpl.fromRecord`, not `headers()` and `set()`: `set` looks the name up twice and checks it
 * with a fresh array, string and RegExp each time, the largest share of the garbage a publish made
 * (bench/brokers.ts, docs/benchmarks.md). The same checks are made here (a name the first time it is
 * seen, a value every time), and a bad name or value throws as `set` would.
 */
export function natsHeaders(values: Readonly<Record<string, string>>, msgId?: string): MsgHdrs {
  const record: Record<string, string[]> = {};
  for (const name in values) record[name] = [checked(name, values[name] as string)];
  if (msgId !== undefined) record['Nats-Msg-Id'] = [checked('Nats-Msg-Id', msgId)];
  return MsgHdrsImpl.fromRecord(record);
}

function checked(name: string, value: string): string {
  if (!validNames.has(name)) {
    if (!HEADER_NAME.test(name)) throw new Error(`'${name}' is not a valid NATS header name`);
    if (validNames.size < MAX_REMEMBERED_NAMES) validNames.add(name);
  }
  if (LINE_BREAK.test(value)) throw new Error(`the value of the NATS header ${name} contains \\r or \\n`);
  return value.trim();
}
