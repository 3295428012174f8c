/**
 * String schemas: `minLength` / `maxLength`, `pattern` and the enforced `format`s (formats.ts) → what a
 * StringNode holds. A pattern or format compiles to a code-point DFA (regex-dfa.ts) and a completion
 * table (pattern-frame.ts); DFAs are cached by pattern text, tables are built per node (they depend on
 * the lengths). `pattern` together with an enforced `format` is refused (no intersection of the two).
 */
import { formatPattern } from './formats.ts';
import { nonNegativeInt, type SchemaObject } from './keywords.ts';
import { type PatternRules, patternRules } from './pattern-frame.ts';
import { compileDfa, type PatternBudget, type PatternDfa } from './regex-dfa.ts';
import { parsePattern } from './regex-parse.ts';
import { ConstraintError } from './spec.ts';

/** The bounds of a string node, and its pattern rules when it has a pattern or an enforced format. */
export interface StringRules {
  minLength: number;
  maxLength: number;
  pattern?: PatternRules;
}

/** Most DFA table cells the cache keeps (oldest dropped first). */
const CACHE_CELLS = 4_000_000;
const dfaCache = new Map<string, PatternDfa>();
let cachedCells = 0;

/**
 * The DFA of the schema's `pattern` or enforced `format`; undefined when it has neither.
 * @throws ConstraintError for a pattern outside the subset, past a limit, or beside an enforced format
 */
export function stringDfa(s: SchemaObject, path: string, budget: PatternBudget): PatternDfa | undefined {
  const format = formatPattern(s.format);
  if (s.pattern === undefined && format === undefined) return undefined;
  if (s.pattern !== undefined && format !== undefined) {
    throw new ConstraintError(`'pattern' together with format '${String(s.format)}' is not supported; use one of them`, path);
  }
  if (s.pattern !== undefined && typeof s.pattern !== 'string') throw new ConstraintError(`'pattern' must be a string`, `${path}/pattern`);
  const source = (s.pattern as string | undefined) ?? format!;
  const at = s.pattern !== undefined ? `${path}/pattern` : `${path}/format`;
  const hit = dfaCache.get(source);
  if (hit) {
    dfaCache.delete(source);
    dfaCache.set(source, hit); // most recently used last
    return hit;
  }
  const dfa = compileDfa(parsePattern(source, at), at, budget);
  dfaCache.set(source, dfa);
  cachedCells += dfa.next.length;
  for (const [key, old] of dfaCache) {
    if (cachedCells <= CACHE_CELLS || old === dfa) break;
    dfaCache.delete(key);
    cachedCells -= old.next.length;
  }
  return dfa;
}

/**
 * The string rules of schema `s`.
 * @param defaultMax - maxLength when the schema gives none (the limits' maxStringLength)
 * @throws ConstraintError for bad bounds, a refused pattern, or a pattern no string within the bounds matches
 */
export function stringRules(s: SchemaObject, path: string, defaultMax: number, budget: PatternBudget): StringRules {
  const minLength = nonNegativeInt(s, 'minLength', path) ?? 0;
  const explicitMax = nonNegativeInt(s, 'maxLength', path);
  const maxLength = explicitMax ?? Math.max(defaultMax, minLength);
  if (minLength > maxLength) throw new ConstraintError('minLength is greater than maxLength', path);
  const dfa = stringDfa(s, path, budget);
  if (!dfa) return { minLength, maxLength };
  const pattern = patternRules(dfa, { minLength, maxLength: explicitMax, defaultMax }, path, budget);
  budget.hold(dfa.next.length + pattern.table.length, path);
  return { minLength, maxLength: pattern.maxLength, pattern };
}
