import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// Where SQL may live: the repositories (`src/<module>/<name>.repository.ts`) and `src/database/`
// (connections, migrations, health, the function definitions). Services compose repository calls,
// opening a transaction with `dataSource.transaction` when several must commit together.
const SRC = fileURLToPath(new URL('..', import.meta.url));

const DATABASE_ACCESS: readonly [RegExp, string][] = [
  [/\.query\s*[(<]/, 'a query'],
  [/\bcreateQueryBuilder\b/, 'a query builder'],
  [/\bgetRepository\b|@InjectRepository\b/, 'a TypeORM repository'],
  [/\.manager\b/, 'an entity manager'],
  [/from\s+['"]pg(?:-query-stream|-copy-streams)?['"]|\bpg\.(?:Client|Pool)\b|\bnew\s+(?:Client|Pool)\s*\(/, 'a pg connection'],
  [/this\.dataSource\.(?!transaction\()/, 'the DataSource for more than a transaction'],
  [/['"`]\s*(?:SELECT\s|INSERT\s+INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|WITH\s+\w+\s+AS\s*\(|LISTEN\s|NOTIFY\s)/i, 'a SQL statement'],
];

/** The source with its comments blanked (line breaks kept), so that prose about queries is not a query. */
function withoutComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, (block) => block.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** `line: what` for each way `source` reaches the database. */
function databaseAccess(source: string): string[] {
  return withoutComments(source)
    .split('\n')
    .flatMap((line, i) => DATABASE_ACCESS.filter(([pattern]) => pattern.test(line)).map(([, what]) => `${i + 1}: ${what}`));
}

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

  it('recognises each way of reaching the database, and not prose about it', () => {
    const sample = [
      "const rows = await this.dataSource.query('SELECT 1');",
      'const client = new pg.Client({});',
      "import pg from 'pg';",
      'const sql = `UPDATE users SET role = $1`;',
      "const qb = m.getRepository(User).createQueryBuilder('u');",
      'await this.dataSource.manager.save(user);',
      '// a comment may say: SELECT the rows, then call .query(',
      '/* or: INSERT INTO the log through the manager */',
      'await this.dataSource.transaction(async (m) => this.users.save(user, m));',
    ].join('\n');
    expect(databaseAccess(sample)).toEqual([
      '1: a query',
      '1: the DataSource for more than a transaction',
      '1: a SQL statement',
      '2: a pg connection',
      '3: a pg connection',
      '4: a SQL statement',
      '5: a query builder',
      '5: a TypeORM repository',
      '6: an entity manager',
      '6: the DataSource for more than a transaction',
    ]);
  });

  it('no file outside the repositories and src/database/ reaches the database', () => {
    const outside = files.filter((f) => !f.name.startsWith('database/') && !f.name.endsWith('.repository.ts'));
    const found = outside.flatMap((f) => databaseAccess(readFileSync(f.path, 'utf8')).map((hit) => `${f.name}:${hit}`));
    expect(found).toEqual([]);
  });
});
