// Builds the dashboard into dist/dashboard: the browser TypeScript compiled by
// tsc (dashboard/tsconfig.json, ES modules, no bundler), the HTML pages and the
// stylesheet copied as they are. Refuses inline scripts, inline styles and
// inline event handlers, which the dashboard's Content-Security-Policy forbids.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'dashboard');
const target = join(root, 'dist', 'dashboard');
const started = Date.now();

rmSync(target, { recursive: true, force: true });
mkdirSync(target, { recursive: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', join(source, 'tsconfig.json')], { stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

const problems = [];
for (const name of readdirSync(source)) {
  if (!/\.(html|css)$/.test(name)) continue;
  if (name.endsWith('.html')) {
    const html = readFileSync(join(source, name), 'utf8');
    for (const m of html.matchAll(/<script\b([^>]*)>/gi)) {
      if (!/\bsrc\s*=/.test(m[1])) problems.push(`${name}: inline <script>`);
    }
    if (/<style\b/i.test(html)) problems.push(`${name}: inline <style>`);
    if (/\sstyle\s*=/i.test(html)) problems.push(`${name}: style attribute`);
    if (/\son[a-z]+\s*=/i.test(html)) problems.push(`${name}: inline event handler`);
  }
  copyFileSync(join(source, name), join(target, name));
}
if (problems.length > 0) {
  process.stderr.write(`dashboard: forbidden by the Content-Security-Policy:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}
process.stderr.write(`dashboard: ${readdirSync(target).length} files in dist/dashboard (${Date.now() - started} ms)\n`);
