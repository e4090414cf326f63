/** A MESSAGES_UPSERT's data shaped like Evolution API's (about 600 bytes of envelope), shared by the benchmarks. */
export const messageData = (n: number, extra: Record<string, unknown> = {}) => ({
  key: { remoteJid: `55119${String(n % 10_000).padStart(8, '0')}@s.whatsapp.net`, fromMe: false, id: `3EB0${n.toString(16).toUpperCase().padStart(16, '0')}` },
  pushName: 'Bench Contact',
  message: { conversation: `Benchmark message number ${n}: ${'lorem ipsum '.repeat(12)}` },
  messageType: 'conversation',
  messageTimestamp: 1_735_689_600 + n,
  instanceId: 'bench',
  source: 'bench',
  ...extra,
});
