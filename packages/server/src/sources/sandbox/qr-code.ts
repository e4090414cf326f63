import { randomBytes } from 'node:crypto';
import QRCode from 'qrcode';

export interface QrCode {
  pairingCode: null;
  /** The text a phone would scan: `2@…` like WhatsApp's pairing references. */
  code: string;
  /** The code drawn as a PNG, as a data URI, the way Evolution API (and its manager) show it. */
  base64: string;
  count: number;
}

/** A fresh QR code as Evolution API renders Baileys' ones (PNG, margin 3, scale 4, error correction H). */
export async function newQrCode(): Promise<QrCode> {
  const code = `2@${randomBytes(24).toString('base64')}`;
  const base64 = await QRCode.toDataURL(code, { type: 'image/png', margin: 3, scale: 4, errorCorrectionLevel: 'H' });
  return { pairingCode: null, code, base64, count: 1 };
}
