import { pino, type DestinationStream, type Logger } from 'pino';
import { CENSOR } from './redact.ts';

/**
 * Structured JSON logs. Secrets and message bodies never reach them: headers that carry
 * credentials are redacted, and code logs event ids and names, not event data.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'pombo' },
    redact: {
      paths: [
        'req.headers.apikey',
        'req.headers.authorization',
        'req.headers["x-instance-token"]',
        'req.query.apikey',
        '*.token',
        '*.secret',
        '*.apikey',
        '*.password',
      ],
      censor: CENSOR,
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
