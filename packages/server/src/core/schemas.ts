import type { FastifySchema } from 'fastify';

/**
 * Building blocks of route schemas. Every API route declares `schema: apiSchema({...})`: its body,
 * query string and path parameters as JSON Schema. Fastify validates requests with them
 * (http/schema-validation.ts turns a failure into a 400 naming the field) and `/docs/openapi.json`
 * is generated from them, so the documentation cannot drift from what the server accepts.
 * Checks a schema cannot express (an event name in any of its forms, a phone number, "exactly one
 * of") stay in the route's code. test/http/openapi.test.ts fails for a route without a schema.
 */

export type JsonSchema = Record<string, unknown>;

/** An object that lists its fields: any other field is refused with a 400 naming it. */
export function strictObject(properties: Record<string, JsonSchema>, required: readonly string[] = [], more: JsonSchema = {}): JsonSchema {
  return { type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false, ...more };
}

export const instanceNameParam: JsonSchema = {
  type: 'string',
  description: 'The instance the route acts on (an instance token reaches only its own instance).',
};

/** `/…/:instanceName` routes. */
export const instanceParams: JsonSchema = strictObject({ instanceName: instanceNameParam }, ['instanceName']);

/** An `events` filter: names in any form of docs/events.md; checked against the event-name table in code. */
export function eventList(description = 'Event names in any form of docs/events.md (MESSAGES_UPSERT, messages.upsert, …); empty or missing means every event.'): JsonSchema {
  return { type: 'array', items: { type: 'string', minLength: 1 }, description, example: ['MESSAGES_UPSERT', 'CONNECTION_UPDATE'] };
}

/** A field that may also be null, which the route reads as left out (as Evolution API's clients send it). */
export function nullable(schema: JsonSchema): JsonSchema {
  const type = schema.type;
  if (type === undefined) return schema;
  const types = Array.isArray(type) ? type : [type];
  const values = schema.enum as unknown[] | undefined;
  return { ...schema, type: [...new Set([...types, 'null'])], ...(values ? { enum: [...values, null] } : {}) };
}

/** An object whose every field may be null. */
export const nullableFields = (properties: Record<string, JsonSchema>): Record<string, JsonSchema> =>
  Object.fromEntries(Object.entries(properties).map(([name, schema]) => [name, nullable(schema)]));

/** A body a request may leave out entirely (a POST whose fields all have defaults). */
export const optionalBody = (schema: JsonSchema): JsonSchema => ({ ...schema, 'x-optional': true });

/** `limit` of paged reads. */
export const PAGE_LIMIT: JsonSchema = {
  type: 'integer',
  minimum: 1,
  maximum: 1000,
  default: 100,
  'x-message': 'must be an integer between 1 and 1000',
  description: 'Items per page, 1 to 1000.',
};

export const booleanField = (description: string): JsonSchema => ({ type: 'boolean', description });
export const stringField = (description: string, more: JsonSchema = {}): JsonSchema => ({ type: 'string', description, ...more });

/** Routes by area, in the order /docs shows them. */
export const TAGS = [
  { name: 'Instances', description: 'Create, connect and delete instances (Evolution API routes).' },
  { name: 'Sandbox', description: "The built-in simulated network's messages, presence and groups." },
  { name: 'Chats', description: "Messages, chats and groups as Evolution API lists them, read from the instance's retained log." },
  { name: 'Events', description: 'Ingest events from a producer and page through the retained log.' },
  { name: 'Channels', description: 'Per-instance channel configuration: POST /<channel>/set and GET /<channel>/find.' },
  { name: 'Webhook', description: "An instance's webhook endpoints, delivery log, replay and secret rotation." },
  { name: 'Operations', description: 'Status, health, metrics and this documentation.' },
] as const;

export type Tag = (typeof TAGS)[number]['name'];

export interface RouteDoc {
  tag: Tag;
  summary: string;
  description?: string;
  body?: JsonSchema;
  querystring?: JsonSchema;
  params?: JsonSchema;
  /** The key the route needs: the global key, any key (global or the instance's token), or none. */
  key: 'global' | 'any' | 'none';
}

/** The OpenAPI security schemes of routes; the request guard (http/request-guard.ts) reads them too. */
export const GLOBAL_KEY = 'globalKey';
export const ANY_KEY = 'apikey';

/** A route's `schema`: what Fastify validates and what the OpenAPI document shows. */
export function apiSchema(doc: RouteDoc): FastifySchema {
  return {
    tags: [doc.tag],
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    ...(doc.body ? { body: doc.body } : {}),
    ...(doc.querystring ? { querystring: doc.querystring } : {}),
    ...(doc.params ? { params: doc.params } : {}),
    security: doc.key === 'none' ? [] : [{ [doc.key === 'global' ? GLOBAL_KEY : ANY_KEY]: [] }],
  } as FastifySchema;
}
