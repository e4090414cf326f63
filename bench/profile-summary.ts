/**
 * Summarizes a `.cpuprofile`: self time per function and per source (a Pombo file, a package, Node's
 * internals), in ms and in µs per event when the number of events is given.
 *
 *   node --import tsx bench/profile-summary.ts /tmp/prof/kafka-drain-1.cpuprofile [--events 20000] [--top 30]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { events: { type: 'string' }, top: { type: 'string' } } });
const events = Number(values.events ?? 0);
const top = Number(values.top ?? 30);

/** Where a function lives: `pombo:<file>`, the package's name, `node:<module>`, or V8's own entries ((idle), (garbage collector)…). */
function sourceOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) return pkg;
  if (url.startsWith('node:')) return url;
  const pombo = /packages\/[^/]+\/src\/(.+)$/.exec(url)?.[1] ?? /\/(bench\/.+)$/.exec(url)?.[1];
  return pombo ? `pombo:${pombo}` : url;
}

function summarize(file: string): void {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, index) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const byFunction = new Map<string, number>();
  const bySource = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    const source = sourceOf(frame.url, frame.functionName);
    const name = `${frame.functionName || '(anonymous)'} ${source}:${frame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    bySource.set(source, (bySource.get(source) ?? 0) + us);
  }
  const total = profile.endTime - profile.startTime;
  const line = (label: string, us: number) =>
    `${(us / 1000).toFixed(1).padStart(8)} ms ${((us / total) * 100).toFixed(1).padStart(5)} %${events ? ` ${(us / events).toFixed(2).padStart(7)} µs/event` : ''}  ${label}`;
  console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled${events ? `, ${(total / events).toFixed(1)} µs/event` : ''}`);
  console.log('by source:');
  for (const [source, us] of [...bySource].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(line(source, us));
  console.log('by function (self time):');
  for (const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(line(name, us));
}

for (const file of positionals) summarize(file);
