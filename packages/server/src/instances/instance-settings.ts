import { optionalBoolean, optionalString, type Obj } from '../http/validate.ts';
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

export const DEFAULT_SETTINGS: Readonly<InstanceSettings> = Object.freeze({
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
