import { escapeParamValue, formatSyslog, frameOctetCounted, type SyslogMessage } from './syslog-format.js';

// RFC 5424 §6 ABNF, as regular expressions (PRINTUSASCII = %d33-126).
const PRINT = '[\\x21-\\x7e]';
const SD_NAME = '[\\x21\\x23-\\x3c\\x3e-\\x5c\\x5e-\\x7e]{1,32}';
const PARAM_VALUE = '(?:[^"\\\\\\]]|\\\\["\\\\\\]])*';
const SD_ELEMENT = `\\[${SD_NAME}(?: ${SD_NAME}="${PARAM_VALUE}")*\\]`;
const SYSLOG_MSG = new RegExp(
  `^<(\\d{1,3})>1 (-|\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(?:\\.\\d{1,6})?(?:Z|[+-]\\d{2}:\\d{2})) (-|${PRINT}{1,255}) (-|${PRINT}{1,48}) (-|${PRINT}{1,128}) (-|${PRINT}{1,32}) (-|(?:${SD_ELEMENT})+)(?: ([\\s\\S]*))?$`,
);

const base: SyslogMessage = {
  facility: 13,
  severity: 6,
  timestamp: '2026-11-26T09:12:44.120Z',
  hostname: 'hospiai-1.chu-exemple.fr',
  appName: 'hospiai',
  procId: '4242',
  msgId: '4821',
  structuredData: [{ id: 'hospiai@32473', params: [['id', '4821'], ['type', 'token.validate']] }],
  msg: '{"id":"4821"}',
};

describe('formatSyslog (RFC 5424)', () => {
  it('writes PRI, VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID, STRUCTURED-DATA and MSG', () => {
    const text = formatSyslog(base);
    expect(text).toBe('<110>1 2026-11-26T09:12:44.120Z hospiai-1.chu-exemple.fr hospiai 4242 4821 [hospiai@32473 id="4821" type="token.validate"] {"id":"4821"}');
    const m = SYSLOG_MSG.exec(text);
    expect(m?.slice(1)).toEqual(['110', base.timestamp, base.hostname, 'hospiai', '4242', '4821', '[hospiai@32473 id="4821" type="token.validate"]', '{"id":"4821"}']);
  });

  it('computes PRI as facility × 8 + severity', () => {
    expect(formatSyslog({ ...base, facility: 0, severity: 0 })).toMatch(/^<0>1 /);
    expect(formatSyslog({ ...base, facility: 23, severity: 7 })).toMatch(/^<191>1 /);
    expect(formatSyslog({ ...base, facility: 10, severity: 4 })).toMatch(/^<84>1 /);
  });

  it('writes NILVALUE for absent header fields and structured data, and leaves out an empty MSG', () => {
    const text = formatSyslog({ ...base, timestamp: null, hostname: null, appName: '', procId: null, msgId: null, structuredData: [], msg: null });
    expect(text).toBe('<110>1 - - - - - -');
    expect(SYSLOG_MSG.test(text)).toBe(true);
  });

  it('escapes ", \\ and ] in PARAM-VALUE, and nothing else', () => {
    expect(escapeParamValue('a"b\\c]d[e=f é')).toBe('a\\"b\\\\c\\]d[e=f é');
    const text = formatSyslog({ ...base, structuredData: [{ id: 'x@32473', params: [['ua', 'curl "8" \\ ]x']] }], msg: null });
    expect(text).toBe('<110>1 2026-11-26T09:12:44.120Z hospiai-1.chu-exemple.fr hospiai 4242 4821 [x@32473 ua="curl \\"8\\" \\\\ \\]x"]');
    expect(SYSLOG_MSG.test(text)).toBe(true);
  });

  it('writes several SD-ELEMENTs side by side', () => {
    const text = formatSyslog({ ...base, structuredData: [{ id: 'a@32473', params: [] }, { id: 'b@32473', params: [['k', 'v']] }] });
    expect(text).toContain(' [a@32473][b@32473 k="v"] ');
    expect(SYSLOG_MSG.test(text)).toBe(true);
  });

  it('refuses header fields and SD names outside the ABNF', () => {
    expect(() => formatSyslog({ ...base, hostname: 'two words' })).toThrow(/HOSTNAME/);
    expect(() => formatSyslog({ ...base, appName: 'a'.repeat(49) })).toThrow(/APP-NAME/);
    expect(() => formatSyslog({ ...base, msgId: 'm'.repeat(33) })).toThrow(/MSGID/);
    expect(() => formatSyslog({ ...base, procId: 'é' })).toThrow(/PROCID/);
    expect(() => formatSyslog({ ...base, structuredData: [{ id: 'bad]id', params: [] }] })).toThrow(/SD-NAME/);
    expect(() => formatSyslog({ ...base, structuredData: [{ id: 'ok', params: [['a=b', 'v']] }] })).toThrow(/SD-NAME/);
    expect(() => formatSyslog({ ...base, timestamp: '2026-11-26 09:12:44' })).toThrow(/TIMESTAMP/);
    expect(() => formatSyslog({ ...base, timestamp: '2026-11-26T09:12:44.1234567Z' })).toThrow(/TIMESTAMP/);
    expect(() => formatSyslog({ ...base, facility: 24 })).toThrow(/facility/);
    expect(() => formatSyslog({ ...base, severity: 8 })).toThrow(/severity/);
  });
});

describe('frameOctetCounted (RFC 6587 §3.4.1)', () => {
  it('prefixes the message with its length in octets and a space', () => {
    expect(frameOctetCounted('<110>1 - - - - - -').toString()).toBe('18 <110>1 - - - - - -');
  });

  it('counts UTF-8 octets, not characters', () => {
    const framed = frameOctetCounted('é𝄞');
    expect(framed.toString('utf8')).toBe('6 é𝄞');
    const [len, ...rest] = framed.toString('latin1').split(' ');
    expect(Number(len)).toBe(Buffer.byteLength(rest.join(' '), 'latin1'));
  });
});
