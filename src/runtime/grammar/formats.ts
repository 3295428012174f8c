/**
 * The string `format`s the constraint enforces, each written as a pattern of the supported subset
 * (regex-parse.ts) and compiled like a client's `pattern`.
 *
 * Each language is a SUBSET of what ajv-formats (full mode) accepts for the format, so every output
 * validates there; where the formats allow variants, one canonical spelling is produced:
 * - date: RFC 3339 full-date, days per month, 29 February in leap years only;
 * - time: HH:MM:SS, optional fraction of 1–9 digits, then `Z` or an offset ±HH:MM (no leap seconds);
 * - date-time: date `T` time;
 * - uuid: 8-4-4-4-12 hex digits (either case, no `urn:uuid:` prefix);
 * - email: ajv-formats' full-mode address (dot-atom local part, dotted domain labels of letters,
 *   digits and inner hyphens), letters in either case;
 * - ipv4: dotted quad of 0–255 without leading zeros;
 * - ipv6: the RFC 4291 text forms of eight hex groups, `::` compression included (no embedded IPv4).
 * Other formats (uri, hostname, …) remain annotations, as JSON Schema treats `format` by default.
 */

const DIGIT = '[0-9]';
const HEX = '[0-9a-fA-F]';

/** Years divisible by 4, except centuries not divisible by 400. */
const LEAP_YEAR = `(?:${DIGIT}{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)`;
const DATE =
  `(?:${DIGIT}{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]${DIGIT}|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]${DIGIT}|30)` +
  `|02-(?:0[1-9]|1${DIGIT}|2[0-8]))|${LEAP_YEAR}-02-29)`;
const HOUR = `(?:[01]${DIGIT}|2[0-3])`;
const MINUTE = `[0-5]${DIGIT}`;
const TIME = `${HOUR}:${MINUTE}:${MINUTE}(?:\\.${DIGIT}{1,9})?(?:Z|[+-]${HOUR}:${MINUTE})`;

const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';

const OCTET = `(?:25[0-5]|2[0-4]${DIGIT}|1${DIGIT}{2}|[1-9]?${DIGIT})`;

const H16 = `${HEX}{1,4}`;
/** `n` groups each followed by ':' (the RFC's `n( h16 ":" )`). */
const groups = (n: string): string => `(?:${H16}:)${n}`;
/** Up to k groups before `::` (the RFC's `[ *k( h16 ":" ) h16 ]`). */
const head = (k: number): string => `(?:${groups(`{0,${k}}`)}${H16})?`;
const LS32 = `${H16}:${H16}`;
const IPV6 = [
  `${groups('{6}')}${LS32}`,
  `::${groups('{5}')}${LS32}`,
  `${head(0)}::${groups('{4}')}${LS32}`,
  `${head(1)}::${groups('{3}')}${LS32}`,
  `${head(2)}::${groups('{2}')}${LS32}`,
  `${head(3)}::${H16}:${LS32}`,
  `${head(4)}::${LS32}`,
  `${head(5)}::${H16}`,
  `${head(6)}::`,
].join('|');

/** The pattern of each enforced format (anchored). */
export const FORMAT_PATTERNS: Readonly<Record<string, string>> = Object.freeze({
  date: `^${DATE}$`,
  time: `^${TIME}$`,
  'date-time': `^${DATE}T${TIME}$`,
  uuid: `^${HEX}{8}-${HEX}{4}-${HEX}{4}-${HEX}{4}-${HEX}{12}$`,
  email: `^${ATOM}+(?:\\.${ATOM}+)*@(?:${LABEL}\\.)+${LABEL}$`,
  ipv4: `^(?:${OCTET}\\.){3}${OCTET}$`,
  ipv6: `^(?:${IPV6})$`,
});

/** The pattern a `format` value stands for, or undefined when it is not enforced (an annotation). */
export function formatPattern(format: unknown): string | undefined {
  return typeof format === 'string' && Object.hasOwn(FORMAT_PATTERNS, format) ? FORMAT_PATTERNS[format] : undefined;
}
