import type { LookupAddress, LookupOptions } from 'node:dns';
import { Agent as HttpAgent, type AgentOptions, type ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import { unbracketed, type OutboundAddressPolicy } from './outbound-address-policy.ts';

type Connected = (error: Error | null, stream: Duplex) => void;
type CreateConnection = (options: ClientRequestArgs, callback?: Connected) => Duplex | null | undefined;

/**
 * A `lookup` for net/tls that answers with the addresses the policy checked for `port`: the socket
 * connects to one of those, so a name rebound between two lookups cannot slip through.
 */
function policyLookup(policy: OutboundAddressPolicy, port: number): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    policy.checkedAddresses(hostname, port).then(
      (addresses) => {
        const entries: LookupAddress[] = addresses
          .map((address) => ({ address, family: isIP(address) }))
          .filter(({ family }) => !options.family || options.family === family);
        const first = entries[0];
        if (options.all) return callback(null, entries);
        if (!first) return callback(Object.assign(new Error(`${hostname} has no IPv${options.family} address`), { code: 'ENOTFOUND' }), '');
        callback(null, first.address, first.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, ''),
    );
  };
}

/**
 * The agent's own `createConnection`, after the policy: a literal address is checked here (Node
 * skips `lookup` for one), a name gets the policy's `lookup`. A refusal fails the request with
 * AddressRefused before any connection is attempted.
 */
function checkedConnection(policy: OutboundAddressPolicy, create: CreateConnection, agent: HttpAgent, options: ClientRequestArgs, callback?: Connected): Duplex | null | undefined {
  const host = unbracketed(options.host ?? options.hostname ?? 'localhost');
  const port = Number(options.port) || (agent instanceof HttpsAgent ? 443 : 80);
  if (!isIP(host)) return create.call(agent, { ...options, lookup: policyLookup(policy, port) }, callback);
  const refused = policy.refusedLiteral(host, port);
  if (!refused) return create.call(agent, options, callback);
  callback?.(refused, undefined as unknown as Duplex);
  return undefined;
}

/** `agent` with its own `createConnection` behind the policy. */
function guarded<A extends HttpAgent>(policy: OutboundAddressPolicy, agent: A): A {
  const create = agent.createConnection as CreateConnection;
  agent.createConnection = (options: ClientRequestArgs, callback?: Connected) => checkedConnection(policy, create, agent, options, callback);
  return agent;
}

/**
 * node:http and node:https Agents (for clients built on them, as the `pusher` library is) whose
 * every connection goes through the address policy, redirects included: the node:http counterpart
 * of undici-policy-agent.ts.
 */
export function policyAgents(policy: OutboundAddressPolicy, options: AgentOptions = {}): { http: HttpAgent; https: HttpsAgent } {
  return { http: guarded(policy, new HttpAgent(options)), https: guarded(policy, new HttpsAgent(options)) };
}
