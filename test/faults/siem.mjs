/* global AbortSignal */
// Audit stream to a real syslog receiver: Debian's rsyslogd with rsyslog-gnutls, started here on a
// free loopback port with a CA, a server certificate and a client certificate made by openssl
// (RFC 5425 over TLS, the sender's certificate checked: x509/certvalid), writing every message as
// received to a file. Under validate load, the receiver is stopped for 10 s and started again, and
// the service is killed with kill -9 once and restarted. Then:
// - every event id in the database is in the receiver's file at least once;
// - the first arrivals are in chain order (increasing ids), the signed checkpoints travel too, each
//   after the event it covers;
// - every message's MSG parses as JSON, and in FHIR format validates against the R4 JSON schema;
// - validations were answered while the receiver was down (the stream is not on their path);
// - the stream reports no lag once caught up.
// It prints the counts (events in the database, lines received, duplicates) and the forwarder's
// throughput (a full resend of the log to the TLS receiver).
// Run after `npm run build`: node test/faults/siem.mjs   (SIEM_FORMAT=json for the JSON format)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Checks, cleanUp, dbClient, freePort, histogram, logTail, prepareTokens, sleep, startLoad, startService, tempDataDir } from './lib.mjs';

const require = createRequire(import.meta.url);
const FORMAT = process.env.SIEM_FORMAT ?? 'fhir';
const RECEIVER_DOWN_MS = 10_000;
const RSYSLOGD = '/usr/sbin/rsyslogd';

const checks = new Checks('siem');
const dataDir = tempDataDir('siem');
const dir = join(dataDir, 'siem');
mkdirSync(join(dir, 'work'), { recursive: true });
const received = join(dir, 'received.log');
let service;
let receiver;

function openssl(args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all from it. */
function makeCertificates() {
  writeFileSync(
    join(dir, 'ext.cnf'),
    '[server]\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n[client]\nextendedKeyUsage=clientAuth\n',
  );
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=HospiAI test CA']);
  for (const [name, cn] of [
    ['server', 'localhost'],
    ['client', 'hospiai'],
  ]) {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', 'ext.cnf', '-extensions', name]);
  }
}

function writeReceiverConfig(port) {
  const conf = `
global(workDirectory="${dir}/work" maxMessageSize="64k"
  DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="${dir}/ca.pem"
  DefaultNetstreamDriverCertFile="${dir}/server.pem" DefaultNetstreamDriverKeyFile="${dir}/server.key")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="x509/certvalid")
template(name="raw" type="string" string="%rawmsg%\\n")
ruleset(name="audit") { action(type="omfile" file="${received}" template="raw") }
input(type="imtcp" port="${port}" ruleset="audit")
`;
  writeFileSync(join(dir, 'rsyslog.conf'), conf);
}

/** Starts rsyslogd in the foreground (-n) with the test's configuration; resolves once it accepts connections. */
async function startReceiver(port) {
  const child = spawn(RSYSLOGD, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const net = await import('node:net');
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return { child, exited, output: () => output };
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`rsyslogd did not start: ${output}`);
}

async function stopReceiver(r) {
  if (!r || r.child.exitCode !== null) return;
  r.child.kill('SIGTERM');
  await r.exited;
}

/** The receiver's file: one message a line, `<PRI>1 TS HOST APP PROCID MSGID SD MSG`. */
function readReceived() {
  if (!existsSync(received)) return [];
  return readFileSync(received, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const m = /^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(line);
      const msgStart = line.indexOf('] {');
      return { line, msgId: m?.[6], msg: msgStart === -1 ? undefined : line.slice(msgStart + 2) };
    });
}

async function streamState(base) {
  const res = await fetch(`${base}/api/health/ready`, { signal: AbortSignal.timeout(10_000) });
  const body = await res.json();
  return body.details?.auditStream;
}

/** Waits until the stream reports nothing left to deliver (the cursor is saved a couple of seconds after sending). */
async function caughtUp(base, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let state;
  while (Date.now() < deadline) {
    try {
      state = await streamState(base);
      if (state && state.lagEvents === 0) return state;
    } catch {
      // not answering yet
    }
    await sleep(250);
  }
  return state;
}

try {
  if (!existsSync(RSYSLOGD)) throw new Error(`${RSYSLOGD} is missing: apt-get install rsyslog rsyslog-gnutls`);
  makeCertificates();
  const receiverPort = await freePort();
  writeReceiverConfig(receiverPort);
  receiver = await startReceiver(receiverPort);

  const port = await freePort();
  const env = {
    AUDIT_SYSLOG_URL: `tls://127.0.0.1:${receiverPort}`,
    AUDIT_SYSLOG_FORMAT: FORMAT,
    AUDIT_SYSLOG_CA_FILE: join(dir, 'ca.pem'),
    AUDIT_SYSLOG_CERT_FILE: join(dir, 'client.pem'),
    AUDIT_SYSLOG_KEY_FILE: join(dir, 'client.key'),
    AUDIT_SYSLOG_HOSTNAME: 'hospiai-faults',
    AUDIT_CHECKPOINT_INTERVAL_SECONDS: '3',
  };
  service = await startService({ dataDir, port, env });
  console.log(`service started in ${service.startMs} ms, format ${FORMAT}, receiver rsyslogd on 127.0.0.1:${receiverPort} (TLS, x509/certvalid)`);
  const tokens = await prepareTokens(service.base);

  const load = startLoad(service.base, tokens, { workers: 4 });
  await sleep(3000);

  // The receiver goes away for 10 s; validations go on.
  await stopReceiver(receiver);
  const downAt = Date.now();
  console.log('receiver stopped');
  await sleep(RECEIVER_DOWN_MS);
  const upAt = Date.now();
  receiver = await startReceiver(receiverPort);
  console.log(`receiver started again after ${upAt - downAt} ms`);
  await sleep(3000);

  // kill -9 of the service under load, then a restart on the same folder and port.
  service.child.kill('SIGKILL');
  await service.exited;
  console.log('service killed (kill -9)');
  await sleep(500);
  service = await startService({ dataDir, port, env });
  console.log(`service restarted in ${service.startMs} ms`);
  await sleep(4000);
  const results = await load.stop();
  console.log(`validations sent: ${results.length}; statuses: ${JSON.stringify(histogram(results))}`);
  const duringOutage = results.filter((r) => r.startedAt >= downAt && r.endedAt <= upAt);
  checks.check(
    duringOutage.length > 0 && duringOutage.every((r) => [200, 401, 403].includes(r.status)),
    `validations were answered while the receiver was down (${duringOutage.length}, all 200/401/403)`,
  );

  const state = await caughtUp(service.base, 120_000);
  checks.check(state?.lagEvents === 0, `the stream caught up: readiness reports ${JSON.stringify(state)}`);
  const metrics = await (await fetch(`${service.base}/metrics`)).text();
  checks.check(/^hospiai_audit_stream_lag_events 0$/m.test(metrics), '/metrics reports hospiai_audit_stream_lag_events 0');
  // The receiver's omfile writes what it took: give it a moment, then stop it so the file is complete.
  await sleep(1000);
  await stopReceiver(receiver);

  const client = await dbClient(dataDir);
  let dbIds;
  let checkpointsInDb;
  try {
    dbIds = (await client.query(`SELECT "id"::text AS id FROM "audit_event" ORDER BY "id"`)).rows.map((r) => r.id);
    checkpointsInDb = (await client.query(`SELECT "seq"::text AS seq, "last_id"::text AS last FROM "audit_checkpoint" ORDER BY "seq"`)).rows;
  } finally {
    await client.end();
  }

  const lines = readReceived();
  const events = lines.filter((l) => l.msgId !== 'checkpoint');
  const checkpointLines = lines.filter((l) => l.msgId === 'checkpoint');
  const firstArrival = new Map();
  events.forEach((l, i) => {
    if (!firstArrival.has(l.msgId)) firstArrival.set(l.msgId, i);
  });
  const missing = dbIds.filter((id) => !firstArrival.has(id));
  const duplicates = events.length - firstArrival.size;
  console.log(`events in the database: ${dbIds.length}; lines received: ${lines.length} (${events.length} events, ${checkpointLines.length} checkpoints); duplicates: ${duplicates}`);
  checks.check(dbIds.length > 500, `the load wrote events (${dbIds.length})`);
  checks.check(missing.length === 0, `every event id in the database reached the receiver (${missing.length} missing${missing.length ? `: ${missing.slice(0, 5).join(', ')}…` : ''})`);
  const order = [...firstArrival.keys()].map(BigInt);
  const outOfOrder = order.findIndex((id, i) => i > 0 && id <= order[i - 1]);
  checks.check(outOfOrder === -1, `first arrivals are in chain order${outOfOrder === -1 ? '' : ` (id ${order[outOfOrder]} after ${order[outOfOrder - 1]})`}`);

  let unparsable = 0;
  let idMismatch = 0;
  const resources = [];
  for (const l of events) {
    try {
      const body = JSON.parse(l.msg);
      if (String(body.id) !== l.msgId) idMismatch += 1;
      resources.push(body);
    } catch {
      unparsable += 1;
    }
  }
  checks.check(unparsable === 0 && idMismatch === 0, `every message parses as JSON with its MSGID as id (${unparsable} unparsable, ${idMismatch} other ids)`);
  if (FORMAT === 'fhir') {
    const Validator = require('@asymmetrik/fhir-json-schema-validator');
    const validator = new Validator();
    const invalid = resources.filter((r) => validator.validate(r, true).length > 0);
    checks.check(
      invalid.length === 0 && resources.every((r) => r.resourceType === 'AuditEvent'),
      `every FHIR AuditEvent validates against the R4 JSON schema (${resources.length} checked, ${invalid.length} invalid${invalid.length ? `: ${JSON.stringify(validator.validate(invalid[0], true)).slice(0, 300)}` : ''})`,
    );
    const validations = resources.filter((r) => r.subtype?.some((c) => c.code === 'token.validate'));
    checks.check(
      validations.length > 0 &&
        validations.every(
          (r) =>
            r.action === 'E' &&
            ['0', '4', '8'].includes(r.outcome) &&
            r.outcomeDesc &&
            r.agent.some((a) => a.type?.coding?.[0]?.code === 'UserOauthAgent' && a.requestor === true) &&
            !JSON.stringify(r).includes(tokens.valid),
        ),
      `validations are BALP OAUTHaccessTokenUse.Minimal (action E, outcome 0/4/8 with a description, oUser agent; never the token) (${validations.length})`,
    );
  }

  // Checkpoints: each one after the event it covers, the signed ones of the database all delivered.
  const sentCheckpoints = new Map();
  lines.forEach((l, i) => {
    if (l.msgId !== 'checkpoint') return;
    const c = JSON.parse(l.msg);
    if (!sentCheckpoints.has(String(c.sequence))) sentCheckpoints.set(String(c.sequence), { index: i, c });
  });
  const firstLineOf = new Map();
  lines.forEach((l, i) => {
    if (l.msgId !== 'checkpoint' && !firstLineOf.has(l.msgId)) firstLineOf.set(l.msgId, i);
  });
  const checkpointsMissing = checkpointsInDb.filter((c) => !sentCheckpoints.has(c.seq));
  const misplaced = [...sentCheckpoints.values()].filter(({ index, c }) => !(firstLineOf.get(c.lastId) < index) || !c.signature);
  checks.check(
    checkpointsInDb.length > 0 && checkpointsMissing.length === 0 && misplaced.length === 0,
    `the signed checkpoints travel on the stream, each after its event (${checkpointsInDb.length} in the database, ${sentCheckpoints.size} received, ${checkpointsMissing.length} missing, ${misplaced.length} misplaced)`,
  );

  // Throughput: the whole log sent again from the start, to the TLS receiver on this machine.
  // (kill -9 leaves the embedded PostgreSQL running, to reset the cursor in it; the restart adopts it.)
  receiver = await startReceiver(receiverPort);
  service.child.kill('SIGKILL');
  await service.exited;
  const admin = await dbClient(dataDir);
  try {
    await admin.query(`DELETE FROM "audit_forward_cursor"`);
  } finally {
    await admin.end();
  }
  const before = readReceived().length;
  service = await startService({ dataDir, port, env });
  const t0 = Date.now();
  let resent = 0;
  while (Date.now() - t0 < 300_000 && resent < dbIds.length) {
    await sleep(50);
    resent = readReceived().length - before;
  }
  const seconds = (Date.now() - t0) / 1000;
  console.log(
    `forwarder throughput: ${resent} messages (${dbIds.length} events and their checkpoints) written by the receiver ${seconds.toFixed(2)} s after the restart answered: ${Math.round(resent / seconds)} messages/s over TLS to rsyslogd on this machine`,
  );
  const after = await caughtUp(service.base, 60_000);
  checks.check(after?.lagEvents === 0 && resent >= dbIds.length, `a reset cursor resends the whole log (${resent} lines)`);
} catch (err) {
  checks.check(false, `the test ran to its end: ${err?.stack ?? err}${logTail(dataDir)}`);
} finally {
  await stopReceiver(receiver);
  await cleanUp(service, dataDir);
}
process.exitCode = checks.close();
