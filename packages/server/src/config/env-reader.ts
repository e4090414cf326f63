import { EVENT_KEYS, findEventName, type EventKey } from '../core/event-names.ts';
import { redactUrlText } from '../ops/redact.ts';

/** Thrown at boot when the environment is malformed; the message names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
/** `between 1 and 1024`, or `at least 1` when there is no real maximum (not 9007199254740991). */
const range = (min: number, max: number | undefined): string => (max === undefined ? `at least ${min}` : `between ${min} and ${max}`);

const FALSE = new Set(['false', '0', 'no', 'off']);

/**
 * Reads typed values from an environment, collecting every problem instead of stopping at the first,
 * so that one boot tells the operator everything that is wrong. Empty strings count as unset.
 */
export class EnvReader {
  readonly problems: string[] = [];
  /**
   * Every variable read, with the default it falls back to (undefined: none, or one worked out from
   * other variables); per-event toggles appear once as `<PREFIX><EVENT>`. The test keeping
   * docs/configuration.md in sync reads it.
   */
  readonly reads = new Map<string, string | number | boolean | readonly string[] | undefined>();
  /** Event toggles set in the environment that name no event Pombo has (`WEBHOOK_EVENTS_NEW_JWT_TOKEN`): ignored, and named in one boot warning. */
  readonly unknownToggles = new Set<string>();
  /** What the operator should know but that does not stop the start; logged once at boot (see bootWarnings). */
  readonly warnings: string[] = [];
  constructor(private readonly env: Record<string, string | undefined>) {}

  /** The warnings of what was read, the unknown toggles named in one. */
  bootWarnings(): string[] {
    const toggles = [...this.unknownToggles];
    if (!toggles.length) return [...this.warnings];
    return [...this.warnings, `${toggles.join(', ')} name no event Pombo has; ignored (toggles of Evolution API versions or integrations Pombo does not carry)`];
  }

  private note(name: string, fallback: string | number | boolean | readonly string[] | undefined): void {
    if (!this.reads.has(name)) this.reads.set(name, fallback);
  }

  /**
   * The value as written, trimmed and without surrounding quotes; undefined when unset or empty. The
   * quotes go first: `docker run --env-file` passes `WEBHOOK_GLOBAL_URL=''` on with them, and `''` is empty.
   */
  raw(name: string): string | undefined {
    const value = this.env[name]?.trim().replace(/^(['"])(.*)\1$/s, '$2');
    return value === undefined || value.trim() === '' ? undefined : value;
  }

  has(name: string): boolean {
    this.note(name, undefined);
    return this.raw(name) !== undefined;
  }

  names(prefix: string): string[] {
    return Object.keys(this.env).filter((name) => name.startsWith(prefix) && this.raw(name) !== undefined);
  }

  str(name: string, fallback: string): string;
  str(name: string): string | undefined;
  str(name: string, fallback?: string): string | undefined {
    this.note(name, fallback);
    return this.raw(name) ?? fallback;
  }

  /**
   * `zeroIsDefault`: `0` is read as the default, with a warning, as Evolution API reads it
   * (`parseInt(x) || default`), for a variable where 0 itself means nothing (no attempt, no timeout):
   * an Evolution .env that sets it starts, with the behaviour it had there.
   */
  int(name: string, fallback: number, { min = 0, max, zeroIsDefault = false }: { min?: number; max?: number; zeroIsDefault?: boolean } = {}): number {
    this.note(name, fallback);
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (zeroIsDefault && parsed === 0) {
      this.warnings.push(`${name}=0 is read as its default, ${fallback}, as Evolution API reads it (0 counts as unset there)`);
      return fallback;
    }
    // Beyond MAX_SAFE_INTEGER a number is no longer exact: refused like a fraction.
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > (max ?? Infinity)) {
      this.problems.push(`${name}="${value}" must be an integer ${range(min, max)}`);
      return fallback;
    }
    return parsed;
  }

  num(name: string, fallback: number, { min = 0, max }: { min?: number; max?: number } = {}): number {
    this.note(name, fallback);
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < min || parsed > (max ?? Infinity)) {
      this.problems.push(`${name}="${value}" must be a number ${range(min, max)}`);
      return fallback;
    }
    return parsed;
  }

  bool(name: string, fallback: boolean): boolean {
    this.note(name, fallback);
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (TRUE.has(value)) return true;
    if (FALSE.has(value)) return false;
    this.problems.push(`${name}="${value}" must be true or false`);
    return fallback;
  }

  list(name: string, fallback: string[] = []): string[] {
    this.note(name, fallback);
    const value = this.raw(name);
    if (value === undefined) return fallback;
    return value
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  }

  oneOf<T extends string>(name: string, values: readonly T[], fallback: T): T {
    this.note(name, fallback);
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const match = values.find((candidate) => candidate.toLowerCase() === value.toLowerCase());
    if (!match) this.problems.push(`${name}="${value}" must be one of ${values.join(', ')}`);
    return match ?? fallback;
  }

  url(name: string, fallback?: string, protocols: readonly string[] = ['http:', 'https:']): string | undefined {
    this.note(name, fallback);
    const value = this.raw(name) ?? fallback;
    if (value === undefined) return undefined;
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) throw new Error('protocol');
      return value;
    } catch {
      // The value is echoed without its credentials: the message goes to stderr, and so to container logs.
      this.problems.push(`${name}="${redactUrlText(value)}" must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);
      return undefined;
    }
  }

  /**
   * Per-event toggles such as `WEBHOOK_EVENTS_MESSAGES_UPSERT=true`. When no toggle of the prefix is
   * set, every event is on (a global destination with no filter receives everything); once any is set,
   * only the events set to true are. Several prefixes count as one set (SQS reads `SQS_GLOBAL_<EVENT>`
   * as Evolution API does, and `SQS_EVENTS_<EVENT>`); `except` names the other variables that share a
   * prefix (`SQS_GLOBAL_ENABLED`). An alias (`GROUP_UPDATE`) counts only when its event's own key is
   * not set: the explicit key wins. A name no event has is ignored and noted in `unknownToggles`:
   * Evolution API's .env files carry toggles of its other versions and integrations (`NEW_JWT_TOKEN`,
   * `CHAMA_AI_ACTION`), and an unchanged file must start.
   */
  eventToggles(prefixes: string | readonly string[], except: readonly string[] = []): ReadonlySet<EventKey> {
    const all = typeof prefixes === 'string' ? [prefixes] : prefixes;
    for (const prefix of all) this.note(`${prefix}<EVENT>`, undefined);
    const explicit = new Map<EventKey, boolean>();
    const byAlias = new Map<EventKey, boolean>();
    for (const prefix of all) {
      for (const name of this.names(prefix).filter((candidate) => !except.includes(candidate))) {
        const suffix = name.slice(prefix.length);
        // Keys and Evolution's aliases (WEBHOOK_EVENTS_GROUP_UPDATE is GROUPS_UPDATE) only, as Evolution names its toggles.
        const key = /^[A-Z_]+$/.test(suffix) ? findEventName(suffix, 'filter')?.key : undefined;
        if (!key) {
          this.unknownToggles.add(name);
          continue;
        }
        const value = this.bool(name, false);
        const toggles = key === suffix ? explicit : byAlias;
        toggles.set(key, (toggles.get(key) ?? false) || value);
      }
    }
    if (explicit.size === 0 && byAlias.size === 0) return new Set(EVENT_KEYS);
    const on = new Set<EventKey>();
    for (const key of EVENT_KEYS) if (explicit.get(key) ?? byAlias.get(key)) on.add(key);
    return on;
  }
}
