import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { isDatabaseUnavailable } from '../../src/database/db-errors.js';
import { EmbeddedPostgres } from '../../src/database/embedded-postgres.js';

/** Whatever DATABASE_URL says: the embedded server the service starts when it is unset. */
describe('embedded PostgreSQL', () => {
  let embedded: EmbeddedPostgres;
  let url: string;
  beforeAll(async () => {
    embedded = new EmbeddedPostgres({ dir: mkdtempSync(join(tmpdir(), 'hospiai-embedded-')) });
    url = await embedded.start();
  }, 120_000);
  afterAll(async () => {
    await embedded.destroy();
  });

  async function connect(connectionString: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5000 });
    await client.connect();
    return client;
  }

  it('is reached through its Unix socket, with its password', async () => {
    const client = await connect(url);
    try {
      const { rows } = await client.query<{ addr: string | null }>('SELECT host(inet_client_addr()) AS addr');
      expect(rows[0].addr).toBeNull();
    } finally {
      await client.end();
    }
    const noPassword = new URL(url);
    noPassword.password = '';
    await expect(connect(noPassword.toString())).rejects.toThrow(/password/);
  });

  it('still listens on 127.0.0.1, with the same password', async () => {
    const tcp = new URL(url);
    tcp.searchParams.delete('host');
    const client = await connect(tcp.toString());
    try {
      const { rows } = await client.query<{ addr: string | null }>('SELECT host(inet_client_addr()) AS addr');
      expect(rows[0].addr).toBe('127.0.0.1');
    } finally {
      await client.end();
    }
  });

  it('once stopped, is an unreachable database, not a failed query', async () => {
    await embedded.stop();
    const err: unknown = await connect(url).then(
      async (c) => {
        await c.end();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'connect' });
    expect(isDatabaseUnavailable(err)).toBe(true);
  });
});
