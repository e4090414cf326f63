import type { Integration } from '../store/types.ts';

/**
 * The `integration` values `/instance/create` accepts: Pombo's two and Evolution API's three, kept as
 * given so that `fetchInstances` shows what the client sent. Each is served by one of Pombo's sources.
 */
export const INTEGRATIONS = ['SANDBOX', 'INGEST', 'WHATSAPP-BAILEYS', 'WHATSAPP-BUSINESS', 'EVOLUTION'] as const satisfies readonly Integration[];

/**
 * WhatsApp Web through Baileys (Evolution's default) connects by QR code: in Pombo the sandbox network
 * plays that number. The Cloud API and the Evolution channel receive their messages from outside
 * (Meta's webhook, `/webhook/evolution`): in Pombo their producer ingests the events.
 */
const SANDBOXED: ReadonlySet<Integration> = new Set<Integration>(['SANDBOX', 'WHATSAPP-BAILEYS']);

/** Whether the sandbox network serves an instance of this integration (connect, send, groups). */
export const isSandboxed = (integration: Integration): boolean => SANDBOXED.has(integration);
