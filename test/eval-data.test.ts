/**
 * Evaluation data reading (src/scoring/eval-data.ts): JSON Lines, JSON documents, Parquet (list columns
 * as arrays, int64 as numbers), gzip, sniffing without an extension, and messages that name the file and
 * the line or row.
 *
 * data/rewardbench-sample.parquet was written once with hyparquet-writer 0.17.0 (not a dependency) from
 * RB2_ROWS below, with RewardBench 2's layout: `id` INT64 (row 3 beyond 2^53), `chosen`/`rejected`
 * as 3-level LIST<STRING> (the layout pyarrow writes), `num_correct` INT64.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { EvalDataError } from '../src/scoring/eval.ts';
import { formatFromName, parseEvalData, plainValue, readEvalData, rowPlace } from '../src/scoring/eval-data.ts';

const dir = mkdtempSync(join(tmpdir(), 'eval-data-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, body: string | Uint8Array): string => {
  const path = join(dir, name);
  writeFileSync(path, body);
  return path;
};

const PARQUET = 'data/rewardbench-sample.parquet';

/** The rows in data/rewardbench-sample.parquet; row 3's id is an INT64 beyond 2^53, so it reads as a string. */
const RB2_ROWS = [
  { id: 1, prompt: 'What is 2 + 2?', chosen: ['2 + 2 = 4.'], rejected: ['2 + 2 = 5.', 'It is 22.', 'Four, or maybe five.'], num_correct: 1, subset: 'Math' },
  { id: 2, prompt: 'Name a primary color.', chosen: ['Red.', 'Blue.', 'Yellow.'], rejected: ['Green is the only primary color.'], num_correct: 3, subset: 'Ties' },
  { id: '9007199254740993', prompt: 'Say hello in French.', chosen: ['Bonjour.'], rejected: ['Hola.', 'Hallo.', 'Ciao.'], num_correct: 1, subset: 'Precise IF' },
  { id: 4, prompt: 'Résumé: une ligne — «ok»?', chosen: ['Oui, une ligne : « ok ». ✓'], rejected: [], num_correct: 1, subset: 'Focus' },
];

describe('Parquet', () => {
  test('a Parquet file with list columns reads as the same rows as its JSON Lines version', async () => {
    const jsonl = write('rb2.jsonl', RB2_ROWS.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const fromParquet = await readEvalData(PARQUET);
    const fromJsonl = await readEvalData(jsonl);
    assert.equal(fromParquet.format, 'parquet');
    assert.equal(fromJsonl.format, 'jsonl');
    assert.deepEqual(fromParquet.rows, fromJsonl.rows);
    assert.deepEqual(fromParquet.rows, RB2_ROWS);
    assert.ok(Array.isArray(fromParquet.rows[0]!.chosen), 'list<string> is a JS array');
    assert.equal(Object.getPrototypeOf(fromParquet.rows[0]), Object.prototype, 'plain object');
    assert.deepEqual(fromParquet.locations, [1, 2, 3, 4]);
    assert.equal(rowPlace(fromParquet, 2), `${PARQUET}: row 3`);
  });

  test('sniffed without an extension, and inside gzip', async () => {
    const bare = join(dir, 'rb2-noext');
    copyFileSync(PARQUET, bare);
    assert.deepEqual((await readEvalData(bare)).rows, RB2_ROWS);
    const gz = write('rb2.parquet.gz', gzipSync(readFileSync(PARQUET)));
    assert.deepEqual((await readEvalData(gz)).rows, RB2_ROWS);
  });

  test('a corrupt Parquet file names the file', async () => {
    const path = write('broken.parquet', 'PAR1 this is not parquet at all PAR1');
    await assert.rejects(readEvalData(path), (err: Error) => {
      assert.ok(err instanceof EvalDataError);
      assert.match(err.message, /broken\.parquet: not a readable Parquet file \(/);
      return true;
    });
  });

  test('plainValue makes Parquet values JSON-like', () => {
    assert.equal(plainValue(5n), 5);
    assert.equal(plainValue(-(2n ** 60n)), '-1152921504606846976');
    assert.deepEqual(plainValue(new Float32Array([0.5, 1.5])), [0.5, 1.5]);
    assert.deepEqual(plainValue({ a: [1n, undefined], d: new Date(0) }), { a: [1, null], d: '1970-01-01T00:00:00.000Z' });
  });
});

describe('JSON Lines', () => {
  test('blank lines, CRLF and a BOM; locations are 1-based lines', async () => {
    const path = write('a.jsonl', '\uFEFF{"a": 1}\r\n\r\n{"a": [2, 3]}\n');
    const data = await readEvalData(path);
    assert.deepEqual(data.rows, [{ a: 1 }, { a: [2, 3] }]);
    assert.deepEqual(data.locations, [1, 3]);
    assert.equal(rowPlace(data, 1), `${path}:3`);
  });

  test('errors name the file and line', async () => {
    await assert.rejects(readEvalData(write('b.jsonl', '{"a": 1}\n{"a": \n')), { name: 'EvalDataError', message: /b\.jsonl:2: not valid JSON \(/ });
    await assert.rejects(readEvalData(write('c.jsonl', '{"a": 1}\n\n[1, 2]\n')), { message: /c\.jsonl:3: expected a JSON object, got an array$/ });
    await assert.rejects(readEvalData(write('d.jsonl', '\n  \n')), { message: /d\.jsonl: no rows$/ });
  });

  test('.jsonl.gz (as HelpSteer2 ships) and a .json file that is really JSON Lines', async () => {
    const gz = write('e.jsonl.gz', gzipSync('{"a": 1}\n{"a": 2}\n'));
    const data = await readEvalData(gz);
    assert.equal(data.format, 'jsonl');
    assert.deepEqual(data.rows, [{ a: 1 }, { a: 2 }]);
    const mislabelled = await readEvalData(write('f.json', '{"a": 1}\n{"a": 2}\n'));
    assert.equal(mislabelled.format, 'jsonl');
    assert.equal(mislabelled.rows.length, 2);
    await assert.rejects(readEvalData(write('g.jsonl.gz', 'not gzip at all')), { message: /g\.jsonl\.gz:1: not valid JSON/ });
  });
});

describe('JSON documents', () => {
  test('an array, or an object with rows or data', async () => {
    const rows = [{ a: 1 }, { a: 2 }];
    for (const [name, doc] of [['h.json', rows], ['i.json', { rows }], ['j.json', { data: rows, meta: 1 }]] as const) {
      const data = await readEvalData(write(name, JSON.stringify(doc, null, 2)));
      assert.equal(data.format, 'json', name);
      assert.deepEqual(data.rows, rows, name);
      assert.deepEqual(data.locations, [1, 2]);
      assert.equal(rowPlace(data, 1), `${join(dir, name)}: row 2`);
    }
  });

  test('errors name the file and the row, or the line of a syntax error', async () => {
    await assert.rejects(readEvalData(write('k.json', '[{"a": 1}, "x"]')), { message: /k\.json: row 2: expected a JSON object, got string$/ });
    await assert.rejects(readEvalData(write('l.json', '{"rows": 3}')), {
      message: /l\.json: expected a JSON array of rows or an object with a 'rows' or 'data' array, got object$/,
    });
    await assert.rejects(readEvalData(write('m.json', '[]')), { message: /m\.json: no rows$/ });
    await assert.rejects(readEvalData(write('n.json', '[\n  {"a": 1},\n  {"a": }\n]')), { message: /n\.json: not valid JSON( at line 3 column \d+)? \([^\n]*\)$/ });
  });

  test('sniffed: a whole document is JSON, other text JSON Lines', async () => {
    assert.equal((await readEvalData(write('o.txt', '[{"a": 1}]'))).format, 'json');
    assert.equal((await readEvalData(write('p.txt', '{"rows": [{"a": 1}]}'))).format, 'json');
    const single = await readEvalData(write('q.txt', '{"a": 1}'));
    assert.equal(single.format, 'jsonl');
    assert.deepEqual(single.rows, [{ a: 1 }]);
    await assert.rejects(readEvalData(write('r.txt', '{"a": 1}\nnope\n')), { message: /r\.txt:2: not valid JSON/ });
    await assert.rejects(parseEvalData(new Uint8Array(0), 'empty'), { message: /^empty: no rows$/ });
  });
});

describe('files', () => {
  test('format from the name', () => {
    assert.equal(formatFromName('x/Train.JSONL'), 'jsonl');
    assert.equal(formatFromName('x.ndjson'), 'jsonl');
    assert.equal(formatFromName('x.json.gz'), 'json');
    assert.equal(formatFromName('x.parquet'), 'parquet');
    assert.equal(formatFromName('x.csv'), undefined);
  });

  test('missing file and directory', async () => {
    await assert.rejects(readEvalData(join(dir, 'absent.jsonl')), { name: 'EvalDataError', message: /absent\.jsonl: data file not found$/ });
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    await assert.rejects(readEvalData(sub), { message: /sub: is a directory/ });
  });
});
