/** The first and last instants the API accepts: years 0001 to 9999, UTC (PostgreSQL has no year 0). */
export const MIN_TIME_MS = Date.parse('0001-01-01T00:00:00.000Z');
export const MAX_TIME_MS = Date.parse('9999-12-31T23:59:59.999Z');

const DATE_PART = /^(\d{4})-(\d{2})-(\d{2})/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * The instant an ISO-8601 text (already matched against the caller's pattern) stands for, when
 * PostgreSQL can hold it too; undefined otherwise. Refused: a date that does not exist (02-30,
 * which Date.parse would roll over into March), year 0000, and an instant that an offset pushes
 * out of years 0001–9999.
 */
export function storableTime(text: string): Date | undefined {
  const ms = Date.parse(text);
  const date = DATE_PART.exec(text);
  if (Number.isNaN(ms) || !date) return undefined;
  const [year, month, day] = [Number(date[1]), Number(date[2]), Number(date[3])];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  return ms < MIN_TIME_MS || ms > MAX_TIME_MS ? undefined : new Date(ms);
}
