import { ModelSession } from '../../src/runtime/model-session.ts';
import { StepLoop } from '../../src/runtime/step-loop.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { DEFAULT_SAMPLING_PARAMS } from '../../src/runtime/sampling.ts';
import { Sequence } from '../../src/runtime/sequence.ts';
const dir = '/work/main/models/bench';
const session = await ModelSession.open(dir, {});
const tok = await loadTokenizer(dir);
const t = { step: 0, run: 0, accept: 0, feeds: 0 };
const origRun = session.session.run.bind(session.session);
(session.session as any).run = async (f: any) => { const a = performance.now(); const o = await origRun(f); t.run += performance.now() - a; return o; };
const origStep = session.step.bind(session);
session.step = async (b: any, toks: any) => { const a = performance.now(); const o = await origStep(b, toks); t.step += performance.now() - a; return o; };
const origAccept = Sequence.prototype.accept;
Sequence.prototype.accept = function (l: Float32Array) { const a = performance.now(); const o = origAccept.call(this, l); t.accept += performance.now() - a; return o; };
for (const ctx of [128, 2048, 128, 2048]) {
  let steps: number[] = [];
  let done!: () => void;
  const fin = new Promise<void>((r) => (done = r));
  const loop = new StepLoop(session, tok, { maxNumSeqs: 16, maxBatchedTokens: 512, kvBudgetTokens: 100000, contextLength: 8192, minChunk: 16 } as any, (r) => {
    if (r.step && r.step.prefillTokens === 0) steps.push(r.step.ms);
    if (r.events.some((e) => e.event.type === 'end')) done();
  });
  const running = loop.run();
  Object.assign(t, { step: 0, run: 0, accept: 0 });
  loop.submit(1, { promptTokenIds: Array.from({ length: ctx }, (_, k) => 1000 + ((k * 7) % 5000)), n: 1, maxTokens: 24, sampling: { ...DEFAULT_SAMPLING_PARAMS, temperature: 0 }, stop: [], stopTokenIds: [], ignoreEos: true, includeStopStrInOutput: false, skipSpecialTokens: true } as any);
  await fin;
  loop.close(); await running;
  const med = [...steps].sort((a, b) => a - b)[steps.length >> 1];
  console.log(`ctx ${ctx}: decode steps ${steps.length}, median step ${med.toFixed(1)} ms; totals: step() ${t.step.toFixed(0)} run ${t.run.toFixed(0)} accept ${t.accept.toFixed(0)} ms`);
}
