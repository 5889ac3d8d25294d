// `npm start`'s build: rebuilds only the parts whose sources changed since they were last built,
// and nothing when all are current (a restart then takes the service's own start time only).
//
// Three parts, each with a stamp (a SHA-256 of its input files' paths and contents):
// - app: src/metadata.ts (generate-swagger-metadata) and `nest build` (dist/, minus the dashboard);
// - dashboard: scripts/build-dashboard.mjs (dist/dashboard);
// - examples: `npm run build:examples` (libs/mcp-auth/dist, examples/*/dist).
// A part is rebuilt when its stamp differs or its output is missing. The app's and the dashboard's
// stamps live in what they build (a `npm run build`, which empties dist/, removes them); `nest build`
// empties dist/, so a current dashboard is set aside during it and put back.
//
// `npm run build` (pretest, .ci/run, the benches) still builds everything from clean.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();
const SKIP = new Set(['node_modules', 'dist', '.git', 'coverage']);

/** Every file under these paths (folders walked, dist/ and node_modules/ left out), sorted. */
function filesOf(paths) {
  const out = [];
  const walk = (p) => {
    if (!existsSync(p)) return;
    if (statSync(p).isDirectory()) {
      for (const name of readdirSync(p)) if (!SKIP.has(name)) walk(join(p, name));
    } else out.push(p);
  };
  for (const p of paths) walk(join(root, p));
  return out.sort();
}

function stampOf(paths) {
  const h = createHash('sha256');
  for (const f of filesOf(paths)) h.update(relative(root, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex');
}

const COMMON = ['package.json', 'package-lock.json', 'tsconfig.json'];
const parts = [
  {
    name: 'app',
    inputs: [...COMMON, 'tsconfig.build.json', 'nest-cli.json', 'src', 'libs/scopes', 'scripts', 'bench', 'test/support/harness.ts'],
    output: 'dist/src/main.js',
    stampFile: 'dist/.build-stamp-app',
    commands: [
      ['node', ['scripts/generate-swagger-metadata.mjs']],
      ['node', ['node_modules/@nestjs/cli/bin/nest.js', 'build']],
    ],
  },
  {
    name: 'dashboard',
    inputs: [...COMMON, 'dashboard', 'scripts/build-dashboard.mjs'],
    output: 'dist/dashboard',
    stampFile: 'dist/dashboard/.build-stamp',
    commands: [['node', ['scripts/build-dashboard.mjs']]],
  },
  {
    name: 'examples',
    inputs: [...COMMON, 'libs/mcp-auth', 'libs/scopes', 'examples'],
    output: 'libs/mcp-auth/dist',
    stampFile: 'libs/mcp-auth/dist/.build-stamp',
    commands: [['npm', ['run', 'build:examples', '--silent']]],
  },
];

const current = (part, stamp) =>
  existsSync(join(root, part.output)) &&
  existsSync(join(root, part.stampFile)) &&
  readFileSync(join(root, part.stampFile), 'utf8') === stamp;

function run([cmd, args]) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const app = parts[0];
const dashboard = parts[1];
const appStamp = stampOf(app.inputs);
const dashboardStamp = stampOf(dashboard.inputs);
const built = [];
if (!current(app, appStamp)) {
  // nest build empties dist/: a current dashboard is set aside and put back.
  let kept;
  if (current(dashboard, dashboardStamp)) {
    kept = join(mkdtempSync(join(tmpdir(), 'hospiai-dashboard-')), 'dashboard');
    renameSync(join(root, 'dist/dashboard'), kept);
  }
  for (const c of app.commands) run(c);
  if (kept) {
    rmSync(join(root, 'dist/dashboard'), { recursive: true, force: true });
    renameSync(kept, join(root, 'dist/dashboard'));
    rmSync(dirname(kept), { recursive: true, force: true });
  }
  // Stamped after the build: generate-swagger-metadata may have rewritten src/metadata.ts.
  writeFileSync(join(root, app.stampFile), stampOf(app.inputs));
  built.push('app');
}
for (const part of parts.slice(1)) {
  const stamp = part === dashboard ? dashboardStamp : stampOf(part.inputs);
  if (current(part, stamp)) continue;
  for (const c of part.commands) run(c);
  writeFileSync(join(root, part.stampFile), stamp);
  built.push(part.name);
}
process.stderr.write(`build: ${built.length ? `rebuilt ${built.join(', ')}` : 'current, nothing rebuilt'} (${Date.now() - started} ms)\n`);
