// Checks the relative links of the repository's Markdown files: every linked
// file exists, and every #anchor names a heading of its page (GitHub's slugs).
// Links to other sites are not followed. Exit 1 with one line per broken link.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SKIP = new Set(['node_modules', 'dist', '.git', '.data', 'coverage', 'artifacts', 'results']);

function markdownFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    if (SKIP.has(name)) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file) {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  const seen = new Map();
  const anchors = new Set();
  for (const m of text.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n ? `${base}-${n}` : base);
  }
  return anchors;
}

const broken = [];
let checked = 0;
for (const file of markdownFiles(ROOT)) {
  const text = readFileSync(file, 'utf8')
    .replace(/```[\s\S]*?```/g, '')
    .replace(/`[^`\n]*`/g, '');
  for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    checked += 1;
    const [path, anchor] = target.split('#');
    const linked = path ? resolve(dirname(file), decodeURI(path)) : file;
    const where = `${relative(ROOT, file)}: ${target}`;
    if (!existsSync(linked)) broken.push(`${where}: no such file`);
    else if (anchor && linked.endsWith('.md') && !anchorsOf(linked).has(anchor)) broken.push(`${where}: no heading #${anchor}`);
  }
}
for (const line of broken) console.error(line);
console.log(`doc links: ${checked} checked, ${broken.length} broken`);
process.exit(broken.length ? 1 : 0);
