/**
 * HelpSteer2 evaluation logic (src/scoring/helpsteer.ts): correlations against hand-computed values,
 * attribute and preference evaluation with the arithmetic written out, row validation, and the two
 * sample files in data/.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EvalDataError } from '../src/scoring/eval.ts';
import { parseJsonLines, readEvalData } from '../src/scoring/eval-data.ts';
import {
  averageRanks,
  evaluateAttributes,
  evaluatePreferences,
  HELPSTEER_ATTRIBUTES,
  helpSteerRows,
  pearson,
  preferenceRows,
  preferredResponse,
  spearman,
  type AttributeValues,
  type HelpSteerRow,
  type PairScores,
} from '../src/scoring/helpsteer.ts';

const close = (actual: number | null, expected: number, eps = 1e-12) =>
  assert.ok(actual !== null && Math.abs(actual - expected) < eps, `expected ${expected}, got ${actual}`);

describe('correlation', () => {
  test('pearson by hand', () => {
    // x = [1..5], y = [2,4,5,4,5]; means 3 and 4; dx = [-2,-1,0,1,2], dy = [-2,0,1,0,1]
    // Sxy = 4+0+0+0+2 = 6, Sxx = 10, Syy = 4+0+1+0+1 = 6 → r = 6/√60 ≈ 0.7745966692
    close(pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]), 6 / Math.sqrt(60));
    close(pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]), 0.7745966692414834);
    // x = [1,2,3,4], y = x² = [1,4,9,16]; means 2.5 and 7.5; dx = [-1.5,-.5,.5,1.5], dy = [-6.5,-3.5,1.5,8.5]
    // Sxy = 9.75+1.75+0.75+12.75 = 25, Sxx = 5, Syy = 42.25+12.25+2.25+72.25 = 129 → r = 25/√645
    close(pearson([1, 2, 3, 4], [1, 4, 9, 16]), 25 / Math.sqrt(645));
    close(pearson([1, 2, 3], [7, 9, 11]), 1); // y = 2x + 5
    close(pearson([1, 2, 3], [3, 2, 1]), -1);
  });

  test('average ranks share tied positions', () => {
    // sorted 2 (rank 1), 4 4 (ranks 2,3 → 2.5), 5 5 (ranks 4,5 → 4.5)
    assert.deepEqual(averageRanks([2, 4, 5, 4, 5]), [1, 2.5, 4.5, 2.5, 4.5]);
    assert.deepEqual(averageRanks([3, 3, 3]), [2, 2, 2]);
    assert.deepEqual(averageRanks([10, -1, 7]), [3, 1, 2]);
    assert.deepEqual(averageRanks([]), []);
  });

  test('spearman by hand, with ties', () => {
    // ranks x = [1..5], ranks y = [1,2.5,4.5,2.5,4.5] (above); both mean 3
    // dy = [-2,-.5,1.5,-.5,1.5]; Sxy = 4+.5+0-.5+3 = 7, Sxx = 10, Syy = 4+.25+2.25+.25+2.25 = 9 → 7/√90 ≈ 0.7378647873
    close(spearman([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]), 7 / Math.sqrt(90));
    close(spearman([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]), 0.7378647873726218);
    // monotone but not linear: ranks agree exactly
    close(spearman([1, 2, 3, 4], [1, 4, 9, 16]), 1);
    close(spearman([1, 2, 3, 4], [40, 30, 20, 10]), -1);
  });

  test('undefined correlations are null; bad input throws', () => {
    assert.equal(pearson([], []), null);
    assert.equal(pearson([1], [2]), null);
    assert.equal(pearson([1, 2, 3], [5, 5, 5]), null); // constant side: zero variance
    assert.equal(spearman([4, 4], [1, 2]), null);
    assert.throws(() => pearson([1, 2], [1]), RangeError);
    assert.throws(() => spearman([1, NaN], [1, 2]), RangeError);
    assert.throws(() => pearson([1, Infinity], [1, 2]), RangeError);
  });
});

const hsRow = (labels: AttributeValues, i: number): HelpSteerRow => ({ place: `t:${i + 1}`, prompt: 'p', response: 'r', labels });

describe('HelpSteer2 attributes', () => {
  test('per-attribute Pearson, Spearman, n, skipped and errors by hand', () => {
    //        help corr coh cplx verb
    const rows = [
      { helpfulness: 0, correctness: 4, coherence: 4, complexity: 1, verbosity: 0 },
      { helpfulness: 1, /* no correctness */ coherence: 4, complexity: 2, verbosity: 1 },
      { helpfulness: 2, correctness: 3, coherence: 4, complexity: 3, verbosity: 2 },
      { helpfulness: 3, correctness: 2, coherence: 4, complexity: 1, verbosity: 3 },
      { helpfulness: 4, correctness: 1, coherence: 4, complexity: 2 /* no verbosity */ },
    ].map(hsRow);
    const predictions: (AttributeValues | null)[] = [
      { helpfulness: 2, correctness: 1, coherence: 3.0, complexity: 1, verbosity: 0.1 },
      { helpfulness: 4, correctness: 9, coherence: 3.1, complexity: 2, verbosity: 1.2 },
      { helpfulness: 5, correctness: 2, coherence: 3.2, complexity: 3, verbosity: 2.3 },
      { helpfulness: 4, correctness: 3, coherence: 3.3, complexity: 1, verbosity: 3.4 },
      { helpfulness: 5, /* none */ coherence: 3.4, complexity: 2, verbosity: 9 },
    ];
    const s = evaluateAttributes(rows, predictions);
    // helpfulness: labels [0..4] vs [2,4,5,4,5] = the x/y of the correlation tests shifted by 1 (shift-invariant)
    assert.equal(s.helpfulness.n, 5);
    close(s.helpfulness.pearson, 6 / Math.sqrt(60));
    close(s.helpfulness.spearman, 7 / Math.sqrt(90));
    // correctness: row 2 unlabelled (skipped; its prediction 9 ignored), row 5 unpredicted (error)
    // → labels [4,3,2] vs [1,2,3]: exactly reversed → -1 and -1
    assert.deepEqual(s.correctness, { n: 3, skipped: 1, errors: 1, pearson: -1, spearman: -1 });
    // coherence: every label 4 → zero variance → undefined
    assert.deepEqual(s.coherence, { n: 5, skipped: 0, errors: 0, pearson: null, spearman: null });
    // complexity: predictions equal labels [1,2,3,1,2] → 1, 1 (ranks with ties agree too)
    assert.equal(s.complexity.n, 5);
    close(s.complexity.pearson, 1);
    close(s.complexity.spearman, 1);
    // verbosity: row 5 unlabelled → labels [0,1,2,3] vs 1.1·x + 0.1 → 1, 1
    assert.equal(s.verbosity.n, 4);
    assert.equal(s.verbosity.skipped, 1);
    close(s.verbosity.pearson, 1);
    close(s.verbosity.spearman, 1);
  });

  test('a row that could not be scored is an error for every labelled attribute', () => {
    const rows = [hsRow({ helpfulness: 1, correctness: 2 }, 0), hsRow({ helpfulness: 3 }, 1), hsRow({ helpfulness: 4 }, 2)];
    const s = evaluateAttributes(rows, [null, { helpfulness: 1 }, { helpfulness: 2 }]);
    assert.deepEqual(s.helpfulness, { n: 2, skipped: 0, errors: 1, pearson: 1, spearman: 1 });
    assert.deepEqual(s.correctness, { n: 0, skipped: 2, errors: 1, pearson: null, spearman: null });
    assert.throws(() => evaluateAttributes(rows, [null]), RangeError);
  });

  test('sample file: validates, line numbers skip the blank line, labels against themselves correlate perfectly', async () => {
    const rows = helpSteerRows(await readEvalData('data/helpsteer2-sample.jsonl'));
    assert.equal(rows.length, 10);
    assert.equal(rows[4]!.place, 'data/helpsteer2-sample.jsonl:6'); // line 5 is blank
    assert.equal(rows[9]!.labels.verbosity, undefined); // null label
    const s = evaluateAttributes(rows, rows.map((r) => r.labels));
    for (const a of HELPSTEER_ATTRIBUTES) {
      assert.equal(s[a].n + s[a].skipped, 10, a);
      close(s[a].pearson, 1);
      close(s[a].spearman, 1);
    }
    assert.equal(s.verbosity.skipped, 1);
  });

  test('validation names the line and the fault', () => {
    const bad = (line: string) => () => helpSteerRows(parseJsonLines(`\n${line}\n`, 'hs.jsonl'));
    const ok = '"prompt": "p", "response": "r"';
    assert.throws(bad(`{"prompt": "p", "helpfulness": 1}`), { name: 'EvalDataError', message: "hs.jsonl:2: missing required field 'response'" });
    assert.throws(bad(`{"prompt": 3, "response": "r"}`), { message: "hs.jsonl:2: field 'prompt' must be a string, got number" });
    assert.throws(bad(`{${ok}, "helpfulness": 5}`), { message: "hs.jsonl:2: label 'helpfulness' must be in 0..4, got 5" });
    assert.throws(bad(`{${ok}, "coherence": -1}`), { message: "hs.jsonl:2: label 'coherence' must be in 0..4, got -1" });
    assert.throws(bad(`{${ok}, "verbosity": "3"}`), { message: "hs.jsonl:2: label 'verbosity' must be a number, got string" });
    assert.throws(bad(`{${ok}, "verbosity": "3"}`), EvalDataError);
    // averaged labels are fine
    assert.equal(helpSteerRows(parseJsonLines(`{${ok}, "helpfulness": 2.5}`, 'x'))[0]!.labels.helpfulness, 2.5);
  });
});

describe('HelpSteer2-Preference', () => {
  test('sign convention: negative prefers response_1, positive response_2, 0 is a tie', () => {
    assert.equal(preferredResponse(-3), 'response_1');
    assert.equal(preferredResponse(-1), 'response_1');
    assert.equal(preferredResponse(0), 'tie');
    assert.equal(preferredResponse(1), 'response_2');
    assert.equal(preferredResponse(3), 'response_2');
  });

  test('accuracy overall, by |strength|, human ties apart (sample file, by hand)', async () => {
    const rows = preferenceRows(await readEvalData('data/helpsteer2-preference-sample.jsonl'));
    assert.deepEqual(rows.map((r) => r.preference_strength), [-3, -2, -1, 0, 1, 2, 3, 0, -1, 2]);
    assert.equal(rows[5]!.place, 'data/helpsteer2-preference-sample.jsonl:7'); // line 6 is blank
    const p = (response_1: number, response_2: number): PairScores => ({ response_1, response_2 });
    const scores = [
      p(2, -1), //   -3 → r1 preferred, 2 > -1: correct
      p(0.5, 1.5), //-2 → r1 preferred, lower: wrong
      p(1, 1), //    -1 → equal scores: model tie (not correct)
      p(0.3, 0.3), // 0 → human tie; model tie too
      p(-0.5, 0.5), // 1 → r2 preferred, higher: correct
      p(1, 3), //     2 → correct
      null, //        3 → could not be scored: error
      p(1, 2), //     0 → human tie; model not tied
      p(0.2, 0.1), //-1 → r1 preferred, higher: correct
      p(4, 2), //     2 → r2 preferred, lower: wrong
    ];
    const s = evaluatePreferences(rows, scores);
    // non-tie rows: 8; error 1 → scored 7; correct rows 1,5,6,9 = 4; wrong rows 2,10 = 2; tie row 3 = 1 → 4/7
    assert.deepEqual(s.overall, { rows: 8, scored: 7, correct: 4, wrong: 2, ties: 1, errors: 1, accuracy: 4 / 7 });
    // |1|: rows 3,5,9 → correct 5,9; tie 3 → 2/3
    assert.deepEqual(s.byStrength['1'], { rows: 3, scored: 3, correct: 2, wrong: 0, ties: 1, errors: 0, accuracy: 2 / 3 });
    // |2|: rows 2,6,10 → correct 6; wrong 2,10 → 1/3
    assert.deepEqual(s.byStrength['2'], { rows: 3, scored: 3, correct: 1, wrong: 2, ties: 0, errors: 0, accuracy: 1 / 3 });
    // |3|: rows 1,7 → correct 1; row 7 error → 1/1
    assert.deepEqual(s.byStrength['3'], { rows: 2, scored: 1, correct: 1, wrong: 0, ties: 0, errors: 1, accuracy: 1 });
    // human ties: rows 4 and 8, both scored, row 4 tied by the model
    assert.deepEqual(s.humanTies, { rows: 2, scored: 2, errors: 0, modelTies: 1 });
  });

  test('nothing scored → accuracy null; lengths must match', () => {
    const rows = preferenceRows(parseJsonLines('{"prompt":"p","response_1":"a","response_2":"b","preference_strength":-2}', 'x.jsonl'));
    const s = evaluatePreferences(rows, [null]);
    assert.equal(s.overall.accuracy, null);
    assert.equal(s.byStrength['2'].errors, 1);
    assert.equal(s.byStrength['1'].accuracy, null);
    // a non-finite score counts as not scored
    assert.equal(evaluatePreferences(rows, [{ response_1: NaN, response_2: 1 }]).overall.errors, 1);
    assert.throws(() => evaluatePreferences(rows, []), RangeError);
  });

  test('validation names the line and the fault', () => {
    const bad = (line: string) => () => preferenceRows(parseJsonLines(`${line}`, 'pref.jsonl'));
    const ok = '"prompt": "p", "response_1": "a", "response_2": "b"';
    assert.throws(bad(`{"prompt": "p", "response_1": "a", "preference_strength": 1}`), {
      name: 'EvalDataError',
      message: "pref.jsonl:1: missing required field 'response_2'",
    });
    assert.throws(bad(`{${ok}}`), { message: "pref.jsonl:1: missing required field 'preference_strength'" });
    assert.throws(bad(`{${ok}, "preference_strength": 4}`), { message: "pref.jsonl:1: field 'preference_strength' must be in -3..3, got 4" });
    assert.throws(bad(`{${ok}, "preference_strength": 1.5}`), { message: "pref.jsonl:1: field 'preference_strength' must be an integer, got 1.5" });
    assert.throws(bad(`{${ok}, "preference_strength": "2"}`), { message: "pref.jsonl:1: field 'preference_strength' must be an integer, got string" });
  });
});
