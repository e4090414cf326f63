// Compiles the server to dist/ (tsc, incremental) and copies the files the sources read at run time
// next to the compiled modules (the manager's browser assets, …): everything under src/ that is not
// TypeScript, so that `new URL('./assets/x', import.meta.url)` finds the same file in dist/.
import { execFileSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

execFileSync(process.execPath, [tsc, '-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
cpSync(`${root}src`, `${root}dist`, { recursive: true, filter: (source) => !source.endsWith('.ts') });
