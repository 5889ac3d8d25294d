import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { isDatabaseUnavailable } from './db-errors.js';

describe('isDatabaseUnavailable', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hospiai-no-socket-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes a Unix socket that is not there (a stopped server) for an unreachable database', async () => {
    const client = new pg.Client({ host: dir, port: 5432, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 5000 });
    const err: unknown = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'connect' });
    expect(isDatabaseUnavailable(err)).toBe(true);
    // As TypeORM hands it on.
    expect(isDatabaseUnavailable({ message: 'query failed', driverError: err })).toBe(true);
  });

  it('does not take any other missing file for the database', () => {
    let err: unknown;
    try {
      readFileSync(join(dir, 'missing'));
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'open' });
    expect(isDatabaseUnavailable(err)).toBe(false);
  });
});
