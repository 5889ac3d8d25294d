// Runs the fault scripts one after the other (crash, database outage, shutdown, audit stream to a
// real syslog receiver, short soak)
// and closes with the total. `npm run test:faults`; SOAK_SECONDS sets the soak's length (60 here).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const scripts = ['crash.mjs', 'db-outage.mjs', 'shutdown.mjs', 'siem.mjs', 'soak.mjs'];
let passed = 0;
let failed = 0;
for (const script of scripts) {
  console.log(`\n== ${script}`);
  const r = spawnSync(process.execPath, [join(here, script)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, SOAK_SECONDS: process.env.SOAK_SECONDS ?? '60' },
    encoding: 'utf8',
    timeout: 15 * 60_000,
  });
  const out = r.stdout ?? '';
  // Each script's own closing line is renamed here, so that only the total below reads as one.
  process.stdout.write(out.replace(/^faults: (\d+) passed, (\d+) failed$/m, `${script}: $1 ok, $2 broken`));
  const m = /^faults: (\d+) passed, (\d+) failed$/m.exec(out);
  if (m && r.status === 0) passed += Number(m[1]);
  else {
    passed += m ? Number(m[1]) : 0;
    failed += m ? Math.max(1, Number(m[2])) : 1;
  }
}
console.log(`\nfaults: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
