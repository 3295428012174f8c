/**
 * Attention masks of KV-cached steps. The store's layout (see store.ts) decides where each row's valid
 * columns are: with left padding its last `lens[r]` past columns, with right padding its first.
 */

/**
 * The attention mask of a step adding `added` columns to a past of `length` columns, where row r holds
 * `lens[r]` valid tokens and gets `real[r]` real new tokens (both padded on `side`).
 */
export function stepMask(side: 'left' | 'right', lens: readonly number[], length: number, added: number, real: readonly number[], out?: BigInt64Array): BigInt64Array {
  const width = length + added;
  const mask = out ?? new BigInt64Array(lens.length * width);
  mask.fill(0n);
  for (let r = 0; r < lens.length; r++) {
    const base = r * width;
    if (side === 'left') {
      mask.fill(1n, base + length - lens[r]!, base + length);
      mask.fill(1n, base + width - real[r]!, base + width);
    } else {
      mask.fill(1n, base, base + lens[r]! + real[r]!);
    }
  }
  return mask;
}
