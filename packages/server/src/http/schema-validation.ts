import { Ajv, type ErrorObject, type Options } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';
import { excerpt, validationError, type PomboError } from '../core/errors.ts';

/**
 * Request validation from each route's JSON Schema (`schema: { body, querystring, params }`), the
 * same schemas `/docs/openapi.json` is generated from. Bodies are checked strictly: no type
 * coercion, no defaults written in, and an unknown field is refused (`additionalProperties: false`)
 * rather than silently dropped, which is what Fastify's default ajv settings do. Query strings and
 * path parameters are text on the wire, so their values are coerced to the declared types.
 */

/** Keywords our schemas carry for people, not for ajv: the error text of a field, OpenAPI examples. */
const ANNOTATIONS = ['x-message', 'x-optional', 'example'];
// strictSchema refuses a misspelled keyword in a schema at boot; types may be left open (e.g. `id: {}`).
const common: Options = { allErrors: true, verbose: true, strictSchema: true, strictTypes: false, allowUnionTypes: true, keywords: ANNOTATIONS };
const bodyAjv = new Ajv({ ...common, coerceTypes: false, useDefaults: false, removeAdditional: false });
const textAjv = new Ajv({ ...common, coerceTypes: true, useDefaults: true, removeAdditional: false });

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const validate = (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object);
  if (httpPart !== 'body' || !(schema as Schema)['x-optional']) return validate;
  // A body the route may go without (`optionalBody`): a request without one (Fastify passes it as null) passes.
  const optional = Object.assign((data: unknown) => {
    const absent = data === undefined || data === null;
    const valid = absent || validate(data);
    optional.errors = absent ? null : validate.errors;
    return valid;
  }, { errors: null as typeof validate.errors });
  return optional;
};

type Part = 'body' | 'querystring' | 'params' | 'headers';
type Schema = Record<string, unknown> & { properties?: Record<string, Schema>; 'x-message'?: string };

const TYPE_NAMES: Record<string, string> = {
  object: 'a JSON object',
  array: 'an array',
  string: 'a string',
  boolean: 'true or false',
  integer: 'an integer',
  number: 'a number',
  null: 'null',
};

/** `/webhook/events/0` → `webhook.events[0]`; field names are the client's input, so they are cut short. */
function fieldPath(part: Part, instancePath: string, child?: string): string {
  const steps = instancePath.split('/').slice(1).map((step) => step.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (child !== undefined) steps.push(child);
  const path = steps.map((step, index) => (/^\d+$/.test(step) ? `[${step}]` : `${index ? '.' : ''}${excerpt(step)}`)).join('');
  if (part === 'querystring') return path ? `the query parameter ${path}` : 'the query string';
  if (part === 'params') return path ? `the path parameter ${path}` : 'the path';
  return path.startsWith('[') || !path ? `body${path}` : path;
}

const hasType = (schema: Schema, type: string): boolean => schema.type === type || (Array.isArray(schema.type) && schema.type.includes(type));

function range(schema: Schema): string {
  const noun = hasType(schema, 'integer') ? 'an integer' : 'a number';
  const { minimum, maximum } = schema;
  if (minimum !== undefined && maximum !== undefined) return `must be ${noun} between ${minimum} and ${maximum}`;
  return minimum !== undefined ? `must be ${noun} of at least ${minimum}` : `must be ${noun} of at most ${maximum}`;
}

/** What is wrong with the value, in words a person can act on (the field's own `x-message` wins). */
function complaint(error: ErrorObject, schema: Schema): string {
  if (schema['x-message']) return schema['x-message'];
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'type':
      if (schema.minimum !== undefined || schema.maximum !== undefined) return range(schema);
      // null is allowed where a field may be left out; saying so would only confuse.
      return `must be ${String(params.type).split(',').filter((type) => type !== 'null').map((type) => TYPE_NAMES[type] ?? type).join(' or ')}`;
    case 'enum':
      return `must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`;
    case 'minimum':
    case 'maximum':
      return range(schema);
    case 'minLength':
      return params.limit === 1 ? 'must not be empty' : `must be at least ${params.limit} characters long`;
    case 'maxLength':
      return `must be at most ${params.limit} characters long`;
    case 'minItems':
      return `must hold at least ${params.limit} item${params.limit === 1 ? '' : 's'}`;
    case 'maxItems':
      return `must hold at most ${params.limit} items`;
    case 'pattern':
      return `must match ${String(params.pattern)}`;
    default:
      return error.message ?? 'is not valid';
  }
}

/** `unknown field "secrett" in webhook: it accepts enabled, url, …` — every unknown field of the request at once. */
function unknownFields(part: Part, errors: readonly ErrorObject[]): string | undefined {
  const unknown = errors.filter((error) => error.keyword === 'additionalProperties');
  const first = unknown[0];
  if (!first) return undefined;
  const where = (error: ErrorObject) => (error.instancePath ? fieldPath(part, error.instancePath) : part === 'body' ? 'the body' : fieldPath(part, ''));
  const oneObject = unknown.every((error) => error.instancePath === first.instancePath);
  const named = unknown.map((error) => `"${excerpt(String(error.params.additionalProperty))}"${oneObject ? '' : ` in ${where(error)}`}`);
  const all = [...new Set(named)];
  // A batch can hold a thousand of them: ten are enough to see the mistake.
  const names = all.length > 10 ? [...all.slice(0, 10), `and ${all.length - 10} more`] : all;
  const fields = Object.keys((first.parentSchema as Schema | undefined)?.properties ?? {});
  const accepted = (fields.length > 12 ? [...fields.slice(0, 12), '…'] : fields).join(', ') || 'no fields';
  const plural = all.length > 1 ? 's' : '';
  return oneObject
    ? `unknown field${plural} ${names.join(', ')} in ${where(first)}: it accepts ${accepted}`
    : `unknown fields ${names.join(', ')}: ${where(first)} accepts ${accepted}`;
}

/** Schema keywords that only say "one of the branches failed"; the branch's own error says what. */
const WRAPPERS = new Set(['if', 'anyOf', 'oneOf', 'not', 'then', 'else']);

/** Turns ajv's errors for one part of a request into our 400: the first problem, then every unknown field. */
export function schemaError(part: Part, errors: readonly ErrorObject[]): PomboError {
  const unknown = unknownFields(part, errors);
  const error = errors.find((candidate) => !WRAPPERS.has(candidate.keyword) && candidate.keyword !== 'additionalProperties');
  if (!error) return validationError(unknown ?? `${fieldPath(part, '')} is not valid`);
  return validationError(describe(part, error), unknown ? [unknown] : []);
}

function describe(part: Part, error: ErrorObject): string {
  if (error.keyword !== 'required') return `${fieldPath(part, error.instancePath)} ${complaint(error, (error.parentSchema ?? {}) as Schema)}`;
  const name = String(error.params.missingProperty);
  const property = (error.parentSchema as Schema | undefined)?.properties?.[name];
  const path = fieldPath(part, error.instancePath, name);
  if (property?.['x-message']) return `${path} ${property['x-message']}`;
  // A missing channel object (`{"nats": {…}}`) is named by what to send, as for a wrong one.
  return property?.type === 'object' ? `${path} must be a JSON object, and is missing` : `${path} is required`;
}
