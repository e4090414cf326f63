import type { EnvReader } from './env-reader.ts';

/** pino's levels, as LOG_LEVEL accepts them. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** pino's levels from the most verbose: of several, a list enables the first. */
const BY_VERBOSITY: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/**
 * Evolution API's LOG_LEVEL is a comma list of categories (`ERROR,WARN,DEBUG,INFO,LOG,VERBOSE,DARK,WEBHOOKS`),
 * each shown or not. pino has one threshold, so a category stands for the level that shows it; DARK,
 * WEBHOOKS and WEBSOCKET (payload dumps) stand for none: Pombo never logs payloads.
 */
const EVOLUTION_CATEGORIES: Readonly<Record<string, LogLevel | undefined>> = {
  ERROR: 'error',
  WARN: 'warn',
  INFO: 'info',
  LOG: 'info',
  DEBUG: 'debug',
  VERBOSE: 'debug',
  DARK: undefined,
  WEBHOOKS: undefined,
  WEBSOCKET: undefined,
};

function levelOf(word: string): LogLevel | undefined {
  const lower = word.toLowerCase();
  return LOG_LEVELS.find((level) => level === lower) ?? EVOLUTION_CATEGORIES[word.toUpperCase()];
}

const isKnown = (word: string): boolean => levelOf(word) !== undefined || word.toUpperCase() in EVOLUTION_CATEGORIES;

/**
 * LOG_LEVEL: one pino level, or Evolution API's list of categories, read as the most verbose level it
 * enables (`ERROR,WARN,INFO` is `info`); a list enabling none (`DARK,WEBHOOKS`) keeps the default. One
 * unknown word stops the start; in a list, where Evolution API ignores what it does not know, it is
 * ignored with a warning.
 */
export function readLogLevel(env: EnvReader, fallback: LogLevel = 'info'): LogLevel {
  const value = env.str('LOG_LEVEL', fallback);
  const words = value
    .split(',')
    .map((word) => word.trim())
    .filter(Boolean);
  const unknown = words.filter((word) => !isKnown(word));
  if (words.length === 1 && unknown.length === 1) {
    env.problems.push(`LOG_LEVEL="${value}" must be one of ${LOG_LEVELS.join(', ')}, or Evolution API's comma list of categories (ERROR,WARN,INFO,…)`);
    return fallback;
  }
  if (unknown.length) env.warnings.push(`LOG_LEVEL: ${unknown.map((word) => `"${word}"`).join(', ')} is no level or Evolution API category; ignored`);
  const enabled = new Set(words.map(levelOf));
  return BY_VERBOSITY.find((level) => enabled.has(level)) ?? fallback;
}
