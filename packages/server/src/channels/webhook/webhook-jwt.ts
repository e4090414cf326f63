import { createHmac } from 'node:crypto';

/** Evolution API's header option: a `jwt_key` header is replaced by `Authorization: Bearer <JWT>` signed with it. */
export const JWT_KEY_HEADER = 'jwt_key';

const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * The token Evolution API sends for `jwt_key` (HS256, valid ten minutes, `{app: 'evolution', action: 'webhook'}`),
 * so receivers written for it keep working. It is not bound to the body: prefer `secret` (Standard Webhooks).
 */
export function evolutionJwt(key: string, now = Date.now()): string {
  const iat = Math.floor(now / 1000);
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ iat, exp: iat + 600, app: 'evolution', action: 'webhook' })}`;
  return `${unsigned}.${createHmac('sha256', key).update(unsigned).digest('base64url')}`;
}
