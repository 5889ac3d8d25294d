// RFC 5424 syslog messages and their octet-counting frame (RFC 6587 §3.4.1, which RFC 5425 uses
// over TLS). Small on purpose: the npm syslog clients write RFC 3164 or leave out structured data
// and octet counting, which the audit stream needs (the event id travels in MSGID and SD).

/** RFC 5424 §6.2.1 facilities used here: 13 is "log audit". */
export const FACILITY_LOG_AUDIT = 13;

/** RFC 5424 §6.2.1 severities. */
export const SEVERITY = { alert: 1, critical: 2, error: 3, warning: 4, notice: 5, informational: 6 } as const;

/** The private SD-ID namespace: 32473 is the enterprise number RFC 5612 reserves for examples and documentation. */
export const SD_ENTERPRISE = '32473';

export interface SyslogMessage {
  facility: number;
  severity: number;
  /** ISO-8601 UTC with at most 6 fraction digits (RFC 5424 TIMESTAMP), or null for NILVALUE. */
  timestamp: string | null;
  hostname: string | null;
  appName: string | null;
  procId: string | null;
  msgId: string | null;
  /** SD-ELEMENTs: an SD-ID and its params, in order. */
  structuredData: readonly { id: string; params: readonly [string, string][] }[];
  /** The free-form MSG (UTF-8, without BOM: MSG-ANY). */
  msg: string | null;
}

/** PRINTUSASCII (%d33-126), 1 to `max` of them, else NILVALUE. */
function field(value: string | null, max: number, name: string): string {
  if (value === null || value === '') return '-';
  if (value.length > max || !/^[\x21-\x7e]+$/.test(value)) throw new Error(`syslog ${name} must be 1 to ${max} printable ASCII characters`);
  return value;
}

/** SD-NAME: 1 to 32 PRINTUSASCII except '=', SP, ']' and '"'. */
function sdName(value: string, what: string): string {
  if (!/^[\x21-\x7e]{1,32}$/.test(value) || /[= \]"]/.test(value)) throw new Error(`syslog SD ${what} ${JSON.stringify(value)} is not an SD-NAME`);
  return value;
}

/** PARAM-VALUE: UTF-8 with '"', '\' and ']' escaped by a backslash (RFC 5424 §6.3.3). */
export function escapeParamValue(value: string): string {
  return value.replace(/["\\\]]/g, '\\$&');
}

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})$/;

/** One RFC 5424 SYSLOG-MSG. */
export function formatSyslog(m: SyslogMessage): string {
  if (!Number.isInteger(m.facility) || m.facility < 0 || m.facility > 23) throw new Error('syslog facility must be 0 to 23');
  if (!Number.isInteger(m.severity) || m.severity < 0 || m.severity > 7) throw new Error('syslog severity must be 0 to 7');
  if (m.timestamp !== null && !TIMESTAMP.test(m.timestamp)) throw new Error('syslog TIMESTAMP must be an RFC 3339 date-time with at most 6 fraction digits');
  const header = [
    `<${m.facility * 8 + m.severity}>1`,
    m.timestamp ?? '-',
    field(m.hostname, 255, 'HOSTNAME'),
    field(m.appName, 48, 'APP-NAME'),
    field(m.procId, 128, 'PROCID'),
    field(m.msgId, 32, 'MSGID'),
  ].join(' ');
  const sd =
    m.structuredData.length === 0
      ? '-'
      : m.structuredData
          .map((e) => `[${sdName(e.id, 'ID')}${e.params.map(([k, v]) => ` ${sdName(k, 'PARAM-NAME')}="${escapeParamValue(v)}"`).join('')}]`)
          .join('');
  return m.msg === null || m.msg === '' ? `${header} ${sd}` : `${header} ${sd} ${m.msg}`;
}

/** Octet-counting framing: MSG-LEN SP SYSLOG-MSG, the length in bytes of the UTF-8 message. */
export function frameOctetCounted(message: string): Buffer {
  const body = Buffer.from(message, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}
