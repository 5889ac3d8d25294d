// docs/api.md against the OpenAPI document the service serves (/api/docs-json):
// the same routes, each with who may call it, its statuses and its query
// parameters; every error code and fixed message; the enums; the headers; and
// the configuration variables the service reads. The doc's tables are the
// parsed format: a route row starts with `METHOD /path`, an error row with
// `code` and its status, a header row with `Name`, a configuration row with `VARIABLE`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/examples.js';
import { startTestApp, type TestApp } from '../support/test-app.js';

const DOC_PATH = join(REPO_ROOT, 'docs', 'api.md');
const CONFIG_PATH = join(REPO_ROOT, 'src', 'config', 'config.ts');
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

interface Operation {
  'x-access'?: string;
  parameters?: Array<{ name: string; in: string; schema?: { enum?: string[] } }>;
  responses: Record<
    string,
    { headers?: Record<string, unknown>; content?: Record<string, { example?: unknown; examples?: Record<string, { value: unknown }> }> }
  >;
}

interface RouteRow {
  route: string;
  cells: string[];
  line: number;
}

/** The cells of a Markdown table row (a `|` escaped as `\|` stays in its cell, unescaped). */
function cellsOf(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim().replace(/\\\|/g, '|'));
}

/** The text of one `## name` section (up to the next `## `). */
function section(doc: string, name: string): string {
  const start = doc.indexOf(`\n## ${name}\n`);
  if (start < 0) return '';
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

function routeRows(doc: string): RouteRow[] {
  const rows: RouteRow[] = [];
  doc.split('\n').forEach((line, i) => {
    const m = /^\|\s*`(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (\/[^`\s]*)`\s*\|/.exec(line);
    if (m) rows.push({ route: `${m[1]} ${m[2]}`, cells: cellsOf(line), line: i + 1 });
  });
  return rows;
}

/** The rows of a section's tables keyed by the names in backticks of their first cell: `| \`x\`, \`y\` | …`. */
function keyedRows(text: string): Map<string, string[][]> {
  const rows = new Map<string, string[][]>();
  for (const line of text.split('\n')) {
    if (!/^\|\s*`/.test(line)) continue;
    const cells = cellsOf(line);
    for (const m of cells[0].matchAll(/`([^`]+)`/g)) rows.set(m[1], [...(rows.get(m[1]) ?? []), cells]);
  }
  return rows;
}

function examplesOf(content: { example?: unknown; examples?: Record<string, { value: unknown }> }): unknown[] {
  return [content.example, ...Object.values(content.examples ?? {}).map((e) => e.value)].filter((x) => x !== undefined);
}

interface ErrorExample {
  route: string;
  status: string;
  code: string;
  message: string;
  oauth: boolean;
}

function errorExamples(operations: Array<{ route: string; op: Operation }>): ErrorExample[] {
  const found: ErrorExample[] = [];
  for (const { route, op } of operations) {
    for (const [status, response] of Object.entries(op.responses)) {
      if (Number(status) < 400) continue;
      for (const content of Object.values(response.content ?? {})) {
        for (const ex of examplesOf(content)) {
          if (!ex || typeof ex !== 'object') continue;
          const body = ex as Record<string, unknown>;
          if (typeof body.code === 'string' && typeof body.error === 'string') {
            found.push({ route, status, code: body.code, message: body.error, oauth: false });
          } else if (typeof body.error === 'string' && typeof body.error_description === 'string') {
            found.push({ route, status, code: body.error, message: body.error_description, oauth: true });
          } else if (typeof body.error === 'string') {
            found.push({ route, status, code: '', message: body.error, oauth: false });
          }
        }
      }
    }
  }
  return found;
}

/** The environment variables src/config/config.ts reads (the names it quotes). */
function configVariables(): string[] {
  const source = readFileSync(CONFIG_PATH, 'utf8');
  return [...new Set([...source.matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|PORT|HOST)'/g)].map((m) => m[1]))].sort();
}

/** Every disagreement between the doc and the OpenAPI document; empty when they agree. */
function problems(doc: string, openapi: any, variables: string[]): string[] {
  const out: string[] = [];
  const operations = Object.entries(openapi.paths as Record<string, Record<string, Operation>>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, op })),
  );
  const rows = routeRows(doc);
  const byRoute = new Map<string, RouteRow>();
  for (const row of rows) {
    if (byRoute.has(row.route)) out.push(`route listed twice in docs/api.md: ${row.route} (line ${row.line})`);
    byRoute.set(row.route, row);
  }

  // Routes: the same set, each with who may call it, its statuses and its parameters.
  for (const { route, op } of operations) {
    const row = byRoute.get(route);
    if (!row) {
      out.push(`route in OpenAPI, missing from docs/api.md: ${route}`);
      continue;
    }
    const [, who, params, , statuses] = row.cells;
    if (row.cells.length !== 5)
      out.push(`${route}: the row needs 5 cells (route, who, body or query, answer, statuses), has ${row.cells.length}`);
    if (who !== `\`${op['x-access']}\``) out.push(`${route}: who may call is \`${op['x-access']}\` in OpenAPI, ${who} in docs/api.md`);
    const documented = (statuses ?? '').split(/,\s*/).filter(Boolean).join(', ');
    const served = Object.keys(op.responses).sort().join(', ');
    if (documented !== served) out.push(`${route}: statuses ${served} in OpenAPI, ${documented} in docs/api.md`);
    for (const p of op.parameters ?? []) {
      if (p.in === 'path') continue;
      if (!(params ?? '').includes(`\`${p.name}\``)) out.push(`${route}: ${p.in} parameter \`${p.name}\` not named in its row`);
    }
  }
  const served = new Set(operations.map((o) => o.route));
  for (const row of rows) if (!served.has(row.route)) out.push(`route in docs/api.md (line ${row.line}), not in OpenAPI: ${row.route}`);

  // Errors: every code with its status, and every fixed message word for word.
  const errorRows = keyedRows(section(doc, 'Errors'));
  for (const ex of errorExamples(operations)) {
    if (ex.code) {
      const statuses = (errorRows.get(ex.code) ?? []).map((cells) => cells[1]);
      if (!statuses.length) out.push(`error code \`${ex.code}\` (${ex.route} ${ex.status}) missing from the Errors table`);
      else if (!statuses.includes(ex.status))
        out.push(`error code \`${ex.code}\`: status ${ex.status} (${ex.route}) not in the Errors table (${statuses.join(', ')})`);
    }
    const fixed = ex.oauth || !ex.message.startsWith('Invalid request: ');
    if (fixed && !doc.includes(ex.message)) out.push(`error message of ${ex.route} ${ex.status} not in docs/api.md: ${ex.message}`);
  }
  for (const [name, schema] of Object.entries(openapi.components.schemas as Record<string, any>)) {
    const code = schema.properties?.code;
    for (const c of [...(code?.enum ?? []), ...(code?.example ? [code.example] : [])]) {
      if (!errorRows.has(c)) out.push(`error code \`${c}\` (schema ${name}) missing from the Errors table`);
    }
  }

  // Enums: scopes, roles, statuses, audit types and outcomes, formats, intervals.
  const values = new Set<string>();
  for (const schema of Object.values(openapi.components.schemas as Record<string, any>)) {
    for (const prop of Object.values((schema.properties ?? {}) as Record<string, any>)) for (const v of prop.enum ?? []) values.add(v);
  }
  for (const { op } of operations) for (const p of op.parameters ?? []) for (const v of p.schema?.enum ?? []) values.add(v);
  for (const v of values) if (!doc.includes(`\`${v}\``)) out.push(`value \`${v}\` (an enum of OpenAPI) not in docs/api.md`);

  // Headers: every response header and header parameter has its row.
  const headerRows = keyedRows(section(doc, 'Headers'));
  const headers = new Set<string>();
  for (const { op } of operations) {
    for (const response of Object.values(op.responses)) for (const h of Object.keys(response.headers ?? {})) headers.add(h);
    for (const p of op.parameters ?? []) if (p.in === 'header') headers.add(p.name);
  }
  for (const h of headers) if (!headerRows.has(h)) out.push(`header ${h} (OpenAPI) has no row in the Headers table`);

  // Configuration: the variables the service reads, no more, no fewer.
  const configRows = keyedRows(section(doc, 'Configuration'));
  for (const v of variables)
    if (!configRows.has(v)) out.push(`configuration variable ${v} (src/config/config.ts) missing from the Configuration table`);
  for (const v of configRows.keys())
    if (!variables.includes(v)) out.push(`configuration variable ${v} in docs/api.md is not read by the service`);
  return out;
}

describe('docs/api.md', () => {
  let t: TestApp;
  let openapi: any;
  const doc = readFileSync(DOC_PATH, 'utf8');
  const variables = configVariables();

  beforeAll(async () => {
    t = await startTestApp();
    const res = await t.request('GET', '/api/docs-json');
    expect(res.status).toBe(200);
    openapi = res.body;
  });
  afterAll(async () => {
    await t.close();
  });

  it('lists the routes, error codes, enums, headers and configuration variables of the service as it serves them', () => {
    expect(Object.keys(openapi.paths).length).toBeGreaterThan(20);
    expect(routeRows(doc).length).toBeGreaterThan(20);
    expect(variables).toEqual(expect.arrayContaining(['PORT', 'DATABASE_URL', 'JWT_SECRET', 'TRUST_PROXY']));
    expect(problems(doc, openapi, variables)).toEqual([]);
  });

  it('finds a route missing from the doc, a route the service does not serve, and a wrong status or rule', () => {
    const row = routeRows(doc).find((r) => r.route === 'DELETE /api/tokens/{id}')!;
    const lines = doc.split('\n');
    const without = lines.filter((_, i) => i !== row.line - 1).join('\n');
    expect(problems(without, openapi, variables)).toEqual(['route in OpenAPI, missing from docs/api.md: DELETE /api/tokens/{id}']);

    const extra = [...lines];
    extra.splice(row.line, 0, lines[row.line - 1].replace('DELETE /api/tokens/{id}', 'PUT /api/tokens/{id}'));
    expect(problems(extra.join('\n'), openapi, variables)).toEqual([
      `route in docs/api.md (line ${row.line + 1}), not in OpenAPI: PUT /api/tokens/{id}`,
    ]);

    const wrong = doc.replace(
      lines[row.line - 1],
      lines[row.line - 1].replace('204, 400', '200, 400').replace('`session(user\\|auditor\\|admin)`', '`public`'),
    );
    expect(problems(wrong, openapi, variables)).toEqual([
      'DELETE /api/tokens/{id}: who may call is `session(user|auditor|admin)` in OpenAPI, `public` in docs/api.md',
      'DELETE /api/tokens/{id}: statuses 204, 400, 401, 403, 404, 503 in OpenAPI, 200, 400, 401, 403, 404, 503 in docs/api.md',
    ]);
  });

  it('finds an error code, a message, a header or a variable missing from the doc', () => {
    const noCode = doc.replace(/^\| `email_taken` \|.*\n/m, '');
    expect(problems(noCode, openapi, variables)).toEqual([
      'error code `email_taken` (POST /api/auth/register 409) missing from the Errors table',
      'error message of POST /api/auth/register 409 not in docs/api.md: An account with this email already exists',
    ]);
    const message = doc.replaceAll('Token expiré', 'Token expire');
    expect(problems(message, openapi, variables)).toEqual([
      ...[
        '/api/audit/events',
        '/api/audit/events/export',
        '/api/audit/stats',
        '/api/audit/verify',
        '/api/audit/checkpoints',
        '/api/audit/checkpoints/public-key',
      ].map((path) => `error message of GET ${path} 401 not in docs/api.md: Token expiré`),
      'error message of POST /api/mcp/validate 401 not in docs/api.md: Token expiré',
    ]);
    const header = doc.replace(/^\| `Retry-After` \|.*\n/m, '');
    expect(problems(header, openapi, variables)).toEqual(['header Retry-After (OpenAPI) has no row in the Headers table']);
    expect(problems(doc, openapi, [...variables, 'NEW_SETTING'])).toEqual([
      'configuration variable NEW_SETTING (src/config/config.ts) missing from the Configuration table',
    ]);
  });
});
