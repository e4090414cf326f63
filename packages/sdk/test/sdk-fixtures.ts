import { startPombo, uniqueName, type Harness } from '../../server/test/helpers/pombo-harness.ts';
import { PomboClient } from '../src/index.ts';

/** Runs `run` against a Pombo of its own (with `env`), a client with the global key and one new instance. */
export async function withPombo(env: Record<string, string>, run: (pombo: Harness, client: PomboClient, name: string) => Promise<void>): Promise<void> {
  const pombo = await startPombo(env);
  try {
    const client = new PomboClient({ baseUrl: pombo.url, apiKey: pombo.apiKey });
    const name = uniqueName('sdk');
    await client.instances.create({ instanceName: name });
    await run(pombo, client, name);
  } finally {
    await pombo.close();
  }
}

/** Publishes `count` events of one name to the instance (one chat each); resolves to their ids, in order. */
export const publish = async (client: PomboClient, name: string, count: number, event = 'MESSAGES_UPSERT'): Promise<string[]> =>
  (await client.events.publish(name, Array.from({ length: count }, (_, n) => ({ event, data: { key: { remoteJid: `${n}@s.whatsapp.net`, id: `m${n}` } } })))).events.map(
    (event) => event.id,
  );
