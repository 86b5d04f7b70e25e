// `Retry-After` (RFC 9110 §10.2.3) on a 503 or 429: how long the server asks us to stay away. The
// breaker uses it as the ejection time (bounded by the caller). Either delay-seconds or an HTTP-date
// in any of the three forms recipients must accept (§5.6.7: IMF-fixdate, obsolete RFC 850, asctime).
// Pure; unreadable values are rejected with a reason, never thrown.
import type { ParseResult } from './retry-policy.ts';

const MONTHS: ReadonlyMap<string, number> = new Map(
  ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'].map((m, i) => [m, i]),
);
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '([0-9]{2}):([0-9]{2}):([0-9]{2})';
const IMF_FIXDATE = new RegExp(`^${DAY}, ([0-9]{2}) ${MONTH} ([0-9]{4}) ${TIME} GMT$`);
const RFC850 = new RegExp(`^${LONG_DAY}, ([0-9]{2})-${MONTH}-([0-9]{2}) ${TIME} GMT$`);
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ([ 0-9][0-9]) ${TIME} ([0-9]{4})$`);

function shown(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

function utc(year: number, month: number | undefined, day: number, h: number, m: number, s: number): number | undefined {
  if (month === undefined || day < 1 || day > 31 || h > 23 || m > 59 || s > 60) return undefined;
  // setUTCFullYear, not Date.UTC, which reads years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(h, m, Math.min(s, 59), 0);
  // 31 Feb would roll over into March: such a date does not exist.
  return date.getUTCDate() === day && date.getUTCMonth() === month ? date.getTime() : undefined;
}

/** Epoch ms of an HTTP-date, or undefined. `nowEpochMs` resolves RFC 850's two-digit years. */
export function parseHttpDate(value: string, nowEpochMs: number): number | undefined {
  let match = IMF_FIXDATE.exec(value);
  if (match !== null) {
    const [, d, mon, y, h, m, s] = match;
    return utc(Number(y), MONTHS.get(mon ?? ''), Number(d), Number(h), Number(m), Number(s));
  }
  match = RFC850.exec(value);
  if (match !== null) {
    const [, d, mon, yy, h, m, s] = match;
    // §5.6.7: a two-digit year more than 50 years in the future is the latest past year with those digits.
    const thisYear = new Date(nowEpochMs).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(yy);
    if (year > thisYear + 50) year -= 100;
    return utc(year, MONTHS.get(mon ?? ''), Number(d), Number(h), Number(m), Number(s));
  }
  match = ASCTIME.exec(value);
  if (match !== null) {
    const [, mon, d, h, m, s, y] = match;
    return utc(Number(y), MONTHS.get(mon ?? ''), Number((d ?? '').trim()), Number(h), Number(m), Number(s));
  }
  return undefined;
}

/** Milliseconds to stay away, from now; a date in the past means 0. */
export function parseRetryAfter(value: string, nowEpochMs: number): ParseResult<number> {
  if (value.length > 64) return { kind: 'invalid', reason: `retry-after: ${value.length} characters is too long` };
  const trimmed = value.replace(/^[ \t]+|[ \t]+$/g, '');
  if (/^[0-9]{1,12}$/.test(trimmed)) return { kind: 'ok', value: Number(trimmed) * 1_000 };
  const at = parseHttpDate(trimmed, nowEpochMs);
  if (at === undefined) return { kind: 'invalid', reason: `retry-after: neither delay-seconds nor an HTTP-date: ${shown(value)}` };
  return { kind: 'ok', value: Math.max(0, at - nowEpochMs) };
}
