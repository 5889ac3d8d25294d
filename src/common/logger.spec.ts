import { createPino, redactCredentials } from './logger.js';

/** A logger at `info` whose lines are kept as written. */
function capture(): { log: ReturnType<typeof createPino>; raw: string[] } {
  const raw: string[] = [];
  return { log: createPino({ logLevel: 'info' }, { write: (line: string) => void raw.push(line) }), raw };
}

const SECRET = 'do-not-log-this-0123456789';

describe('log lines never carry a credential', () => {
  it.each(['password', 'token', 'accessToken', 'secret'])('the field %s is replaced, at the top and one level down', (field) => {
    const { log, raw } = capture();
    log.info({ [field]: SECRET, body: { [field]: SECRET, kept: 'visible' } }, 'line');
    expect(raw).toHaveLength(1);
    expect(raw[0]).not.toContain(SECRET);
    const line = JSON.parse(raw[0]) as Record<string, Record<string, unknown>>;
    expect(line[field]).toBe('[redacted]');
    expect(line.body).toEqual({ [field]: '[redacted]', kept: 'visible' });
  });

  it('request headers: Authorization and Cookie are replaced, other headers kept', () => {
    const { log, raw } = capture();
    const headers = { authorization: `Bearer ${SECRET}`, cookie: `hospiai_session=${SECRET}`, 'user-agent': 'FastMCP' };
    log.info({ headers, req: { headers } }, 'line');
    expect(raw[0]).not.toContain(SECRET);
    const line = JSON.parse(raw[0]) as { headers: Record<string, string>; req: { headers: Record<string, string> } };
    for (const h of [line.headers, line.req.headers]) {
      expect(h).toEqual({ authorization: '[redacted]', cookie: '[redacted]', 'user-agent': 'FastMCP' });
    }
  });

  it('the object given to the logger is left as it was', () => {
    const { log, raw } = capture();
    const given = { token: SECRET, user: { password: SECRET } };
    log.info(given, 'line');
    expect(raw[0]).not.toContain(SECRET);
    expect(given).toEqual({ token: SECRET, user: { password: SECRET } });
  });

  it('deeper down and in arrays too; other values, dates and numbers are written as they were', () => {
    const { log, raw } = capture();
    const at = new Date('2026-11-26T08:30:00.000Z');
    log.info({ a: { b: { c: { password: SECRET, n: 1 } } }, list: [{ token: SECRET }, 'plain'], at, empty: { token: null } }, 'line');
    expect(raw[0]).not.toContain(SECRET);
    expect(JSON.parse(raw[0])).toMatchObject({
      a: { b: { c: { password: '[redacted]', n: 1 } } },
      list: [{ token: '[redacted]' }, 'plain'],
      at: '2026-11-26T08:30:00.000Z',
      empty: { token: null },
    });
  });

  it('a child logger (as Fastify makes one per request) redacts the same way, its bindings too', () => {
    const { log, raw } = capture();
    log.child({ reqId: 'r-1' }).info({ token: SECRET }, 'line');
    log.child({ reqId: 'r-2', headers: { authorization: `Bearer ${SECRET}` } }).info('bound');
    expect(raw).toHaveLength(2);
    expect(raw.join('')).not.toContain(SECRET);
    expect(JSON.parse(raw[0])).toMatchObject({ reqId: 'r-1', token: '[redacted]' });
    expect(JSON.parse(raw[1])).toMatchObject({ reqId: 'r-2', headers: { authorization: '[redacted]' } });
  });

  it('within a line, class instances are left to their serializer: not walked, not copied', () => {
    class Request {
      token = SECRET;
      constructor(readonly server: { requests: Request[] }) {}
    }
    const server = { requests: [] as Request[] };
    const req = new Request(server);
    server.requests.push(req);
    const given = { req, password: SECRET };
    const out = redactCredentials(given);
    expect(out.req).toBe(req);
    expect(out.password).toBe('[redacted]');
    // The line itself, whatever it is, is looked at.
    expect(redactCredentials(new Request({ requests: [] }))).toMatchObject({ token: '[redacted]' });
  });

  it('a line with nothing to hide is written field for field (the request line)', () => {
    const { log, raw } = capture();
    log.info({ method: 'POST', route: '/api/mcp/validate', status: 200, ms: 1.2 }, 'request');
    expect(JSON.parse(raw[0])).toMatchObject({ method: 'POST', route: '/api/mcp/validate', status: 200, ms: 1.2, msg: 'request' });
  });

  it('an error carrying a credential in a field, or whose cause does: the field is not written', () => {
    const { log, raw } = capture();
    const err = Object.assign(new Error('refused'), { token: SECRET, password: SECRET, code: 'E_REFUSED' });
    const wrapped = new Error('outer', { cause: err });
    log.error({ err }, 'failed');
    log.error({ cause: err }, 'failed');
    log.error({ err: wrapped }, 'failed');
    log.error({ failure: wrapped }, 'failed');
    expect(raw).toHaveLength(4);
    for (const line of raw) {
      expect(line).not.toContain(SECRET);
      expect(line).toContain('E_REFUSED');
    }
  });
});
