import pg from 'pg';

export default async function globalTeardown() {
  const adminUrl = process.env.HOSPIAI_TEST_ADMIN_URL;
  const template = process.env.HOSPIAI_TEST_TEMPLATE;
  if (adminUrl && template) {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      // Per-file databases left behind by a crashed file, then the template.
      const { rows } = await admin.query(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`${template.replace('_tpl_', '_t_')}%`]);
      for (const r of rows) await admin.query(`DROP DATABASE IF EXISTS "${r.datname}" WITH (FORCE)`);
      await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }
  await globalThis.__HOSPIAI_EMBEDDED__?.destroy();
}
