import type { Envelope } from '../../core/envelope.ts';
import { isObject, type Obj } from '../../core/validate.ts';

/** Where media bytes are kept, by WhatsApp's `fileSha256` (the sandbox's media store). */
export interface MediaSource {
  read(fileSha256: string): Promise<Buffer | undefined>;
}

/** The `fileSha256` of the media part of a message (`imageMessage`, `documentMessage`, …), if it has one. */
function mediaDigest(message: Obj): string | undefined {
  for (const part of Object.values(message)) {
    if (isObject(part) && typeof part.fileSha256 === 'string') return part.fileSha256;
  }
  return undefined;
}

/**
 * The envelope with `data.message.base64` added when the event's message carries media Pombo holds,
 * as Evolution API does for webhooks with `base64: true`. Returns a copy: the stored event, shared
 * with every other destination, is never changed.
 */
export async function withBase64(envelope: Envelope, media: MediaSource): Promise<Envelope> {
  const data = envelope.data;
  if (!isObject(data) || !isObject(data.message)) return envelope;
  const digest = mediaDigest(data.message);
  const bytes = digest === undefined ? undefined : await media.read(digest);
  if (!bytes) return envelope;
  return { ...envelope, data: { ...data, message: { ...data.message, base64: bytes.toString('base64') } } };
}
