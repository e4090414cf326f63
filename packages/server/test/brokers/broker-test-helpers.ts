import { eventually, type Harness } from '../helpers/pombo-harness.ts';

/** A random Brazilian mobile number for a sandbox instance. */
export const phone = (): string => `5511${String(Math.floor(Math.random() * 1e9)).padStart(9, '0')}`;

/** Waits until an instance's destination has published something and has nothing left, so that absent topics or queues prove filtering. */
export async function drained(pombo: Harness, channel: string, name: string): Promise<any> {
  return eventually(async () => {
    const found = await pombo.api('GET', `/${channel}/find/${name}`);
    return found.body.state.backlog === 0 && found.body.state.delivered > 0 && found.body;
  }, `${name}'s ${channel} backlog to drain`);
}
