/**
 * Ranking candidates by reward. The Nemotron reward model is a Bradley-Terry + regression hybrid: a
 * score only means something relative to other responses to the same prompt, and the probability that
 * response i beats response j is sigmoid(r_i − r_j).
 */

/** Logistic function, stable for large |x|. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** A candidate's place among the others. */
export interface Ranked {
  index: number;
  score: number;
  /** 1 = best. Ties keep the original order. */
  rank: number;
  /**
   * Bradley-Terry probability of beating the best other candidate: sigmoid(r_i − max_{j≠i} r_j).
   * Undefined when there is only one candidate.
   */
  winProbability?: number;
}

/** Ranks scores (best first in the returned order). */
export function rankScores(scores: number[]): Ranked[] {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const best = order[0];
  const second = order[1];
  return order.map((index, k) => {
    const other = index === best ? second : best;
    return {
      index,
      score: scores[index]!,
      rank: k + 1,
      winProbability: other === undefined ? undefined : sigmoid(scores[index]! - scores[other]!),
    };
  });
}
