import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// Where SQL may live: the repositories (`src/<module>/<name>.repository.ts`) and `src/database/`
// (connections, migrations, health). Services compose repository calls, opening a transaction
// with `dataSource.transaction` when several must commit together.
const SRC = fileURLToPath(new URL('..', import.meta.url));

/** Folders whose queries are not in a repository yet. */
const NOT_YET_IN_REPOSITORIES = ['audit/'];

const DATABASE_ACCESS: [RegExp, string][] = [
  [/\.query\s*[(<]/, 'a query'],
  [/\bcreateQueryBuilder\b/, 'a query builder'],
  [/\bgetRepository\b|@InjectRepository\b/, 'a TypeORM repository'],
  [/\.manager\b/, 'an entity manager'],
  [/from 'pg'|\bpg\.Client\b/, 'a pg connection'],
  [/this\.dataSource\.(?!transaction\()/, 'the DataSource for more than a transaction'],
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [path] : [];
  });
}

describe('where SQL lives', () => {
  const files = sources(SRC).map((path) => ({ path, name: relative(SRC, path).split('\\').join('/') }));

  it('finds the sources', () => {
    expect(files.some((f) => f.name === 'tokens/tokens.repository.ts')).toBe(true);
    expect(files.some((f) => f.name === 'tokens/tokens.service.ts')).toBe(true);
  });

  it('no file outside the repositories and src/database/ reaches the database', () => {
    const outside = files.filter(
      (f) =>
        !f.name.startsWith('database/') && !f.name.endsWith('.repository.ts') && !NOT_YET_IN_REPOSITORIES.some((d) => f.name.startsWith(d)),
    );
    const found = outside.flatMap((f) => {
      const text = readFileSync(f.path, 'utf8');
      return DATABASE_ACCESS.filter(([pattern]) => pattern.test(text)).map(([, what]) => `${f.name}: ${what}`);
    });
    expect(found).toEqual([]);
  });
});
