import { optionalBoolean, optionalString, type Obj } from '../core/validate.ts';
import type { JsonSchema } from '../core/schemas.ts';
import type { Instance } from '../store/types.ts';

/** Evolution API's behaviour settings of an instance (`/settings/set`, or the same fields at `/instance/create`). */
export interface InstanceSettings {
  rejectCall: boolean;
  msgCall: string;
  groupsIgnore: boolean;
  alwaysOnline: boolean;
  readMessages: boolean;
  readStatus: boolean;
  syncFullHistory: boolean;
  wavoipToken: string;
}

/** Where the settings are kept among the instance's stored configurations. */
export const SETTINGS_KEY = 'settings';

const DEFAULT_SETTINGS: Readonly<InstanceSettings> = Object.freeze({
  rejectCall: false,
  msgCall: '',
  groupsIgnore: false,
  alwaysOnline: false,
  readMessages: false,
  readStatus: false,
  syncFullHistory: false,
  wavoipToken: '',
});

const FLAGS = ['rejectCall', 'groupsIgnore', 'alwaysOnline', 'readMessages', 'readStatus', 'syncFullHistory'] as const;
const TEXTS = ['msgCall', 'wavoipToken'] as const;

const MEANING: Record<keyof InstanceSettings, string> = {
  rejectCall: 'Reject incoming calls.',
  msgCall: 'The message sent to a rejected caller.',
  groupsIgnore: 'Ignore group messages.',
  alwaysOnline: 'Show the number online at all times.',
  readMessages: 'Mark received messages read.',
  readStatus: 'Mark status updates seen.',
  syncFullHistory: 'Ask for the full history when connecting.',
  wavoipToken: "A token of Evolution API's WaVoIP calls.",
};

/** The settings as JSON Schema fields (`/settings/set`'s body, and the same fields at `/instance/create`). */
export const SETTINGS_FIELDS: Record<string, JsonSchema> = Object.fromEntries([
  ...FLAGS.map((key) => [key, { type: 'boolean', description: `${MEANING[key]} Default false.` }]),
  ...TEXTS.map((key) => [key, { type: 'string', description: `${MEANING[key]} Default "".` }]),
]);

export const settingsOf = (instance: Instance): InstanceSettings => ({
  ...DEFAULT_SETTINGS,
  ...(instance.channels[SETTINGS_KEY] as Partial<InstanceSettings> | undefined),
});

/** Whether a body carries any setting (so `/instance/create` stores them only when given). */
export const hasSettings = (body: Obj): boolean => [...FLAGS, ...TEXTS].some((key) => body[key] !== undefined && body[key] !== null);

/** The fields a body gives, validated (a 400 naming the field otherwise), over `current`. */
export function parseSettings(body: Obj, current: InstanceSettings = DEFAULT_SETTINGS): InstanceSettings {
  const next = { ...current };
  for (const key of FLAGS) next[key] = optionalBoolean(body, key) ?? current[key];
  // A text set to "" clears it, so an empty string is a value here, not an absent one.
  for (const key of TEXTS) next[key] = body[key] === '' ? '' : (optionalString(body, key) ?? current[key]);
  return next;
}
