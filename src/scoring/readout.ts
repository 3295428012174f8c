import type { RewardReadout } from '../runtime/model-loader.ts';

/** A reward model's answer for one conversation. */
export interface Score {
  /** The overall score (higher = better response to the same prompt). */
  score: number;
  /** Per-attribute values, for multi-attribute heads (HelpSteer2: helpfulness, correctness, …). */
  attributes?: Record<string, number>;
}

/** The Nemotron-70B-Reward-HF readout: the logit of token id 0 at the last position. */
export const NEMOTRON_REWARD_READOUT: RewardReadout = { kind: 'token_logit', tokenId: 0 };

/** The numbers a worker sends back per item: what the readout needs of the last position's outputs. */
export function extractReadout(row: Float32Array, readout: RewardReadout): number[] {
  if (readout.kind === 'token_logit') {
    if (readout.tokenId >= row.length) throw new Error(`reward token id ${readout.tokenId} is outside the model's ${row.length} outputs`);
    return [row[readout.tokenId]!];
  }
  if (row.length !== readout.attributes.length) {
    throw new Error(`the reward head has ${row.length} outputs but ${readout.attributes.length} attributes are configured`);
  }
  return Array.from(row);
}

/**
 * Turns extracted values into a Score. Token readout: the value itself. Head readout: one attribute per
 * output; the overall score is the weighted sum when weights are configured, else the first attribute.
 */
export function toScore(values: number[], readout: RewardReadout): Score {
  if (readout.kind === 'token_logit') return { score: values[0]! };
  const attributes = Object.fromEntries(readout.attributes.map((a, i) => [a, values[i]!]));
  if (readout.attributes.length === 1) return { score: values[0]! };
  const w = readout.weights;
  const score = w && w.length === values.length ? values.reduce((acc, v, i) => acc + v * w[i]!, 0) : values[0]!;
  return { score, attributes };
}

/** Parses a --reward-readout flag value: "token_logit:<id>" or "head". */
export function parseReadoutFlag(value: string, attributes?: string[], weights?: number[]): RewardReadout {
  const m = /^token_logit(?::(\d+))?$/.exec(value);
  if (m) return { kind: 'token_logit', tokenId: Number(m[1] ?? 0) };
  if (value === 'head') return { kind: 'head', attributes: attributes ?? ['score'], weights };
  throw new Error(`reward readout must be "token_logit[:<token id>]" or "head", got "${value}"`);
}
