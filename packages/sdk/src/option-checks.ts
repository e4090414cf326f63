import { PomboOptionError } from './errors.ts';

/** One option's check: undefined when the value is acceptable, else what the option takes. */
export type Check = (value: unknown) => string | undefined;

/** A value's type alone, for a value that may be a secret. */
function typeOf(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  return Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** How a wrong value is shown in the error: its type, and the value itself when it is short. */
function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 60 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`;
  return typeOf(value);
}

const spelling = (name: string): string => name.toLowerCase().replace(/[-_]/g, '');

/**
 * A name that is not an option but spells one in another case or with separators (`apikey`, `MaxRetries`,
 * `last_event_id`): a typo, or the seed's C# names. Other names are the caller's own fields (options
 * spread from a wider configuration object, which TypeScript lets through) and are left alone.
 */
function isMisspelt(name: string, checks: Record<string, Check>): boolean {
  if (Object.hasOwn(checks, name)) return false;
  return Object.keys(checks).some((option) => spelling(option) === spelling(name));
}

/**
 * Checks `options` against `checks` (one per known option): a wrong value, a required option left out,
 * or a misspelt option (`apikey` for `apiKey`) throws a PomboOptionError. An optional
 * option set to undefined counts as left out.
 */
export function checkOptions(owner: string, options: unknown, checks: Record<string, Check>, required: readonly string[] = []): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new PomboOptionError(owner, 'an object of options', describe(options));
  const given = options as Record<string, unknown>;
  for (const name of Object.keys(given)) {
    // Its type only: a misspelt apiKey or instanceToken holds a key, and error messages end in logs.
    if (isMisspelt(name, checks)) throw new PomboOptionError(`${owner}.${name}`, `no such option (the options are ${Object.keys(checks).join(', ')})`, typeOf(given[name]));
  }
  for (const [name, check] of Object.entries(checks)) {
    const value = given[name];
    if (value === undefined && !required.includes(name)) continue;
    const expected = check(value);
    if (expected) throw new PomboOptionError(`${owner}.${name}`, expected, value === undefined ? 'nothing (is the variable it comes from set?)' : describe(value));
  }
}

const expect =
  (expected: string, test: (value: unknown) => boolean): Check =>
  (value) =>
    test(value) ? undefined : expected;

export const nonEmptyString: Check = expect('a non-empty string', (value) => typeof value === 'string' && value !== '');
export const aString: Check = expect('a string', (value) => typeof value === 'string');
export const aFunction: Check = expect('a function', (value) => typeof value === 'function');
export const aBoolean: Check = expect('true or false', (value) => typeof value === 'boolean');

/** A timeout in ms: `0`, or one past what a timer holds (`Infinity`), is no limit. */
export const aTimeout: Check = expect('a number of ms ≥ 0 (0 or Infinity: no limit)', (value) => typeof value === 'number' && value >= 0);

export const atLeast = (min: number, { integer = false } = {}): Check =>
  expect(`${integer ? 'an integer' : 'a number'} ≥ ${min}`, (value) => typeof value === 'number' && Number.isFinite(value) && value >= min && (!integer || Number.isInteger(value)));

export const oneOf = (...allowed: string[]): Check => expect(allowed.map((name) => JSON.stringify(name)).join(' or '), (value) => allowed.includes(value as string));
