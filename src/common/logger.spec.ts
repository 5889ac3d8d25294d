import { createPino } from './logger.js';

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

  it('a child logger (as Fastify makes one per request) redacts the same way', () => {
    const { log, raw } = capture();
    log.child({ reqId: 'r-1' }).info({ token: SECRET }, 'line');
    expect(raw[0]).not.toContain(SECRET);
    expect(JSON.parse(raw[0])).toMatchObject({ reqId: 'r-1', token: '[redacted]' });
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
