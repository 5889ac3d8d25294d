/**
 * `src/database/sql/*.sql` hold the current definition of every function and trigger of the
 * migrated schema, for readers: the migrations redefine some of them several times. This compares
 * the files with what PostgreSQL reports for a freshly migrated database (pg_get_functiondef,
 * pg_get_triggerdef), whitespace runs counted as one space: a function or trigger without its file,
 * a file's definition that the schema does not have, or one that differs, fails it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase } from '../support/test-app.js';

const SQL_DIR = join(process.cwd(), 'src', 'database', 'sql');

/** Whitespace runs as one space, none before `;` or at either end. */
const normalise = (sql: string): string => sql.replace(/\s+/g, ' ').replace(/ ;/g, ';').trim();

interface Definitions {
  functions: Map<string, string>;
  triggers: Map<string, string>;
}

const FUNCTION = /CREATE OR REPLACE FUNCTION public\.(\w+)\([\s\S]*?\bAS \$function\$[\s\S]*?\$function\$/g;
const TRIGGER = /^CREATE TRIGGER (\w+) [\s\S]* ON public\.(\w+) /;

/** The definitions a file holds: functions as pg_get_functiondef writes them, then triggers, each ending with `;`. */
function parse(file: string, text: string, into: Definitions): void {
  let rest = text;
  for (const m of text.matchAll(FUNCTION)) {
    const key = m[1];
    if (into.functions.has(key)) throw new Error(`${file}: function ${key} is defined twice`);
    into.functions.set(key, normalise(m[0]));
    rest = rest.replace(m[0], '');
  }
  const statements = rest
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n')
    .split(';')
    .map(normalise)
    .filter((s) => s !== '');
  for (const s of statements) {
    const m = TRIGGER.exec(s);
    if (!m) throw new Error(`${file}: not a function or trigger definition: ${s.slice(0, 80)}`);
    const key = `${m[2]}.${m[1]}`;
    if (into.triggers.has(key)) throw new Error(`${file}: trigger ${key} is defined twice`);
    into.triggers.set(key, s);
  }
}

describe('SQL definitions in src/database/sql', () => {
  let db: pg.Client;
  let drop: () => Promise<void>;
  const files: Definitions = { functions: new Map(), triggers: new Map() };
  const schema: Definitions = { functions: new Map(), triggers: new Map() };
  /** Triggers on the partitions of audit_event, by partition. */
  const partitionTriggers: { partition: string; parent: string; name: string; def: string }[] = [];

  beforeAll(async () => {
    for (const file of readdirSync(SQL_DIR).filter((f) => f.endsWith('.sql')))
      parse(file, readFileSync(join(SQL_DIR, file), 'utf8'), files);
    const created = await createTestDatabase();
    drop = created.drop;
    db = new pg.Client({ connectionString: created.url });
    await db.connect();
    // The schema's own functions: not those an extension (uuid-ossp) brings.
    const functions = await db.query<{ name: string; args: string; def: string }>(
      `SELECT p.proname AS name, pg_get_function_identity_arguments(p.oid) AS args, pg_get_functiondef(p.oid) AS def
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
        ORDER BY 1, 2`,
    );
    for (const f of functions.rows) {
      // A second function of the same name (an overload) gets its own key, and no file can match it.
      const key = schema.functions.has(f.name) ? `${f.name}(${f.args})` : f.name;
      schema.functions.set(key, normalise(f.def));
    }
    // Triggers written by hand: not the foreign keys' internal ones, nor the clones a partition
    // gets of its parent's row triggers.
    const triggers = await db.query<{ name: string; tbl: string; partition_of: string | null; def: string }>(
      `SELECT t.tgname AS name, c.relname AS tbl, pc.relname AS partition_of, pg_get_triggerdef(t.oid) AS def
         FROM pg_trigger t
         JOIN pg_class c ON c.oid = t.tgrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
         LEFT JOIN pg_class pc ON pc.oid = i.inhparent
        WHERE n.nspname = 'public' AND NOT t.tgisinternal AND t.tgparentid = 0
        ORDER BY 2, 1`,
    );
    for (const t of triggers.rows) {
      if (t.partition_of) partitionTriggers.push({ partition: t.tbl, parent: t.partition_of, name: t.name, def: normalise(t.def) });
      else schema.triggers.set(`${t.tbl}.${t.name}`, normalise(t.def));
    }
  });

  afterAll(async () => {
    await db?.end();
    await drop?.();
  });

  it('finds the definitions', () => {
    expect(files.functions.size).toBeGreaterThan(0);
    expect(files.triggers.size).toBeGreaterThan(0);
    expect(schema.functions.has('audit_append')).toBe(true);
    expect(schema.triggers.has('audit_event.audit_event_no_update_delete')).toBe(true);
  });

  it('has a file for every function of the schema, and a function of the schema for every file', () => {
    expect([...files.functions.keys()].sort()).toEqual([...schema.functions.keys()].sort());
  });

  it("holds each function's current definition", () => {
    for (const [name, def] of schema.functions) {
      expect({ name, def: files.functions.get(name) }).toEqual({ name, def });
    }
  });

  it('has every trigger of the schema, as it is defined', () => {
    expect([...files.triggers.keys()].sort()).toEqual([...schema.triggers.keys()].sort());
    for (const [name, def] of schema.triggers) {
      expect({ name, def: files.triggers.get(name) }).toEqual({ name, def });
    }
  });

  it("gives each partition of audit_event only its parent's TRUNCATE guard (made by audit_ensure_partition)", () => {
    expect(partitionTriggers.length).toBeGreaterThan(0);
    for (const t of partitionTriggers) {
      expect({ partition: t.partition, parent: t.parent, name: t.name }).toEqual({
        partition: t.partition,
        parent: 'audit_event',
        name: 'audit_event_no_truncate',
      });
      expect(t.def.replace(`ON public.${t.partition} `, 'ON public.audit_event ')).toBe(
        files.triggers.get('audit_event.audit_event_no_truncate'),
      );
    }
  });
});
