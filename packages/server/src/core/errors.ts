/**
 * Every error Pombo returns, with a stable code, an HTTP status and a message template.
 * `docs/errors.md` lists them; a test keeps both in sync.
 */
export const ERRORS = {
  POMBO_ERR_UNAUTHORIZED: { status: 401, message: 'Missing or invalid apikey: send the global API key or the instance token in the "apikey" header (or as Authorization: Bearer)' },
  POMBO_ERR_FORBIDDEN: { status: 403, message: 'This key cannot access {resource}' },
  POMBO_ERR_SOCKET_UNAUTHORIZED: { status: 401, message: 'Missing or invalid apikey: pass the global API key or the instance token as auth.apikey, the "apikey" query parameter or the "apikey" header' },
  POMBO_ERR_INSTANCE_NOT_FOUND: { status: 404, message: 'The "{instance}" instance does not exist' },
  POMBO_ERR_INSTANCE_EXISTS: { status: 403, message: 'This name "{instance}" is already in use.' },
  POMBO_ERR_NOT_FOUND: { status: 404, message: '{resource} was not found' },
  POMBO_ERR_VALIDATION: { status: 400, message: '{detail}' },
  POMBO_ERR_INVALID_JSON: { status: 400, message: 'The request body is not valid JSON: {detail}' },
  POMBO_ERR_BAD_REQUEST: { status: 400, message: 'The request is not valid HTTP: {detail}' },
  POMBO_ERR_REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time: send its headers and body without pausing' },
  POMBO_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large: send at most {limit} bytes of headers' },
  POMBO_ERR_BODY_TOO_LARGE: { status: 413, message: 'The request body exceeds the limit of {limit} bytes' },
  POMBO_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json' },
  POMBO_ERR_UNSUPPORTED_ENCODING: { status: 415, message: 'The body is sent with Content-Encoding: {encoding}, which Pombo does not decode: send it uncompressed' },
  POMBO_ERR_IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'The Idempotency-Key "{key}" was used before for a different request: {detail}' },
  POMBO_ERR_IDEMPOTENCY_KEY_CONFLICT: { status: 409, message: 'Another request with the Idempotency-Key "{key}" and different events was stored at the same time: {detail}' },
  POMBO_ERR_UNKNOWN_EVENT: { status: 400, message: 'Unknown event "{event}": use one of the names in docs/events.md (e.g. MESSAGES_UPSERT or messages.upsert)' },
  POMBO_ERR_INSTANCE_NOT_CONNECTED: { status: 409, message: 'The "{instance}" instance is not connected: call GET /instance/connect/{instance} first' },
  POMBO_ERR_WRONG_INTEGRATION: { status: 400, message: 'The "{instance}" instance uses the {integration} integration, which cannot {action}' },
  POMBO_ERR_WEBHOOK_NOT_SET: { status: 409, message: 'The "{instance}" instance has no enabled webhook: set one with POST /webhook/set/{instance} first' },
  POMBO_ERR_WEBHOOK_ENDPOINT_DISABLED: { status: 409, message: 'The webhook endpoint "{endpoint}" of "{instance}" is disabled: enable it with PATCH /webhook/endpoints/{instance}/{endpoint} {"enabled": true} first' },
  POMBO_ERR_WEBHOOK_ENDPOINT_LIMIT: { status: 409, message: 'The "{instance}" instance already has {max} webhook endpoints (WEBHOOK_MAX_ENDPOINTS_PER_INSTANCE): delete one first' },
  POMBO_ERR_NOT_GROUP_ADMIN: { status: 403, message: '"{instance}" is not an admin of the group {group}: only its owner and admins add, remove, promote or demote participants' },
  POMBO_ERR_LIMIT_REACHED: { status: 403, message: '{what}: the limit is {limit} ({variable}, see docs/security.md)' },
  POMBO_ERR_ROUTE_NOT_FOUND: { status: 404, message: 'Route {method} {url} not found' },
  POMBO_ERR_UNAVAILABLE: { status: 503, message: 'The service is unavailable: {detail}' },
  POMBO_ERR_INTERNAL: { status: 500, message: 'Internal error (reference {reference}); the server log has the details' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** An error a client can act on: serialized in Evolution API's shape `{status, error, response:{message:[…]}}`. */
export class PomboError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly messages: string[];

  constructor(code: ErrorCode, params: Record<string, string | number> = {}, extra: string[] = []) {
    const template: string = ERRORS[code].message;
    const message = template.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? `{${name}}`));
    super(message);
    this.code = code;
    this.status = ERRORS[code].status;
    this.messages = [message, ...extra];
  }

  toJSON(): { status: number; error: string; code: ErrorCode; response: { message: string[] } } {
    return {
      status: this.status,
      error: STATUS_TEXT[this.status] ?? 'Error',
      code: this.code,
      response: { message: this.messages },
    };
  }
}

/** Longest piece of a client's input an error message repeats. */
const MAX_ECHO = 64;

/** A client's value as an error may quote it: cut to MAX_ECHO characters, line breaks shown escaped. */
export function excerpt(value: unknown, max = MAX_ECHO): string {
  const text = (typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))).replace(/[\r\n\0]/g, (c) => JSON.stringify(c).slice(1, -1));
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export const validationError = (detail: string, more: string[] = []): PomboError =>
  new PomboError('POMBO_ERR_VALIDATION', { detail }, more);
