// Builds the published package: ES modules in dist/esm, CommonJS in dist/cjs, each with its .d.ts.
// tsc rewrites `./x.ts` to `./x.js` in the JavaScript it emits but not in declarations, so the
// declarations are rewritten here; dist/cjs gets a package.json saying its .js files are CommonJS.
// `npm pack` and `npm publish` run this first (prepack).
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

rmSync(join(root, 'dist'), { recursive: true, force: true });
for (const project of ['tsconfig.build.json', 'tsconfig.cjs.json']) {
  execFileSync(process.execPath, [tsc, '-p', join(root, project)], { stdio: 'inherit' });
}
for (const format of ['esm', 'cjs']) {
  const dir = join(root, 'dist', format);
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.d.ts'))) {
    const path = join(dir, file);
    writeFileSync(path, readFileSync(path, 'utf8').replace(/((?:from|import) '\.{1,2}\/[^']*)\.ts'/g, "$1.js'"));
  }
}
writeFileSync(join(root, 'dist', 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
copyFileSync(join(root, '..', '..', 'LICENSE'), join(root, 'LICENSE')); // one license for the repository, shipped with the package
