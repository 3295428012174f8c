// The Best-of view: asks /v1/chat/completions for k candidates with n = best_of = k, so all k come back
// ranked, and shows them side by side, best first: text, reward, rank, win probability against the best
// other (Bradley-Terry), mean token logprob; the winner highlighted. With a reward model that has
// attribute heads (HelpSteer2), /v1/score of the same candidates adds a bar per attribute.
//
// Ranking: by reward (the server's order) or by mean token logprob (re-ranked here from the returned
// logprobs). Without a reward model only the latter exists, and the server ranks that way itself.
import { describeError } from './api.js';
import { fixed3, meanLogprob, rankValues } from './format.js';

const $ = (id) => document.getElementById(id);

/** A labelled row of a definition list. */
function row(dl, term, value, cls) {
  const dt = document.createElement('dt');
  dt.textContent = term;
  const dd = document.createElement('dd');
  dd.textContent = value;
  if (cls) dd.className = cls;
  dl.append(dt, dd);
}

/**
 * Attribute bars: a <meter> per attribute, its number beside it. HelpSteer2 attributes run 0–4; the
 * scale widens when a value falls outside, so every bar fits.
 */
export function attributeBars(attributes, range) {
  const box = document.createElement('div');
  box.className = 'attributes';
  for (const [name, value] of Object.entries(attributes)) {
    const id = `attr-${Math.random().toString(36).slice(2, 10)}`;
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = name;
    const meter = document.createElement('meter');
    meter.id = id;
    meter.min = range.min;
    meter.max = range.max;
    meter.value = value;
    meter.dataset.attribute = name;
    const num = document.createElement('span');
    num.className = 'num';
    num.textContent = fixed3(value);
    box.append(label, meter, num);
  }
  return box;
}

/** The bar scale of a set of attribute maps: at least 0–4, wider when a value falls outside. */
export function attributeRange(maps) {
  const values = maps.flatMap((m) => (m ? Object.values(m) : []));
  return { min: Math.min(0, ...values), max: Math.max(4, ...values) };
}

/** The Best-of view. */
export class BestOfView {
  constructor(api, settings, announce) {
    this.api = api;
    this.settings = settings;
    this.announce = announce;
    this.candidates = [];
    this.rewardModelUsed = null;
    /** Reward model id → whether its /v1/score answers carry attributes (asked once, then known). */
    this.attributeHeads = new Map();
    $('best-of-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.run();
    });
    for (const r of document.querySelectorAll('input[name="rank-by"]')) r.addEventListener('change', () => this.render());
  }

  /** Enables "Reward" ranking only when a reward model is served. */
  modelsChanged() {
    const reward = document.querySelector('input[name="rank-by"][value="reward"]');
    const has = this.settings.rewardModels().length > 0;
    reward.disabled = !has;
    $('rank-by-note').textContent = has ? '' : 'No reward model is served: candidates are ranked by mean token logprob.';
    if (!has) document.querySelector('input[name="rank-by"][value="mean_logprob"]').checked = true;
  }

  rankBy() {
    return document.querySelector('input[name="rank-by"]:checked')?.value ?? 'reward';
  }

  async run() {
    const prompt = $('bo-prompt').value;
    if (prompt.trim() === '') return;
    const k = Number($('bo-k').value);
    $('bo-error').textContent = '';
    $('bo-generate').disabled = true;
    $('bo-results').setAttribute('aria-busy', 'true');
    this.announce(`Generating ${k} candidates…`);
    const messages = [...this.settings.systemMessages(), { role: 'user', content: prompt }];
    const reward = this.settings.rewardModel;
    try {
      const body = { model: this.settings.chatModel || undefined, messages, ...this.settings.params(), n: k, best_of: k, logprobs: true };
      if (reward) body.reward_model = reward;
      const answer = await this.api.json('/v1/chat/completions', body);
      this.rewardModelUsed = answer.reward_model ?? null;
      this.candidates = answer.choices.map((c) => ({
        text: c.message?.content ?? '',
        reward: typeof c.reward === 'number' ? c.reward : undefined,
        meanLogprob: typeof c.mean_logprob === 'number' ? c.mean_logprob : meanLogprob(c.logprobs?.content),
        tokens: c.logprobs?.content?.length,
        finish: c.finish_reason,
      }));
      if (answer.ranked_by === 'reward') await this.addAttributes(answer.reward_model, messages);
      this.render();
      this.announce(`${this.candidates.length} candidates, ranked by ${this.rankBy() === 'reward' ? 'reward' : 'mean logprob'}.`);
    } catch (err) {
      $('bo-error').textContent = describeError(err);
      this.announce('Best-of failed.');
    } finally {
      $('bo-generate').disabled = false;
      $('bo-results').setAttribute('aria-busy', 'false');
    }
  }

  /** Adds attribute scores when the reward model has attribute heads (learned from its first answer). */
  async addAttributes(model, messages) {
    if (!model || this.attributeHeads.get(model) === false) return;
    try {
      const scored = await this.api.json('/v1/score', { model, messages, responses: this.candidates.map((c) => c.text) });
      const has = scored.data.some((d) => d.attributes);
      this.attributeHeads.set(model, has);
      for (const d of scored.data) if (d.attributes) this.candidates[d.index].attributes = d.attributes;
    } catch (err) {
      $('bo-error').textContent = `Attribute scores unavailable: ${describeError(err)}`;
    }
  }

  render() {
    const box = $('bo-results');
    box.replaceChildren();
    if (this.candidates.length === 0) return;
    const by = this.rankBy() === 'reward' && this.candidates.every((c) => c.reward !== undefined) ? 'reward' : 'mean_logprob';
    const ranked = rankValues(this.candidates.map((c) => (by === 'reward' ? c.reward : c.meanLogprob)));
    const range = attributeRange(this.candidates.map((c) => c.attributes));
    $('bo-summary').textContent =
      `${this.candidates.length} candidates ranked by ${by === 'reward' ? `reward (${this.rewardModelUsed})` : 'mean token logprob'}` +
      (by === 'reward' ? '; win probability = chance of beating the best other candidate, σ(reward − best other reward).' : '.');
    for (const r of ranked) box.append(this.card(this.candidates[r.index], r, by, range));
  }

  card(c, r, by, range) {
    const card = document.createElement('article');
    card.className = `candidate${r.rank === 1 ? ' winner' : ''}`;
    card.dataset.rank = String(r.rank);
    card.setAttribute('aria-label', `Candidate ranked ${r.rank}${r.rank === 1 ? ' (winner)' : ''}`);
    const head = document.createElement('h3');
    head.textContent = r.rank === 1 ? `#1 · Winner` : `#${r.rank}`;
    const dl = document.createElement('dl');
    if (c.reward !== undefined) row(dl, 'Reward', fixed3(c.reward), 'reward');
    row(dl, 'Rank', String(r.rank), 'rank');
    row(dl, 'Win probability', by === 'reward' ? fixed3(r.winProbability) : '—', 'win');
    row(dl, 'Mean logprob', fixed3(c.meanLogprob), 'mean-logprob');
    if (c.tokens !== undefined) row(dl, 'Tokens', `${c.tokens}${c.finish ? ` (${c.finish})` : ''}`, 'tokens');
    card.append(head, dl);
    if (c.attributes) card.append(attributeBars(c.attributes, range));
    const text = document.createElement('div');
    text.className = 'text';
    text.textContent = c.text;
    card.append(text);
    return card;
  }
}
