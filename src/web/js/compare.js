// The Compare view: a prompt and two or more answers, scored by /v1/score in one request; the table
// shows each answer's score, rank and Bradley-Terry win probability exactly as the server returns them
// (and attribute bars for attribute-head reward models).
import { describeError } from './api.js';
import { attributeBars, attributeRange } from './best-of.js';
import { fixed3 } from './format.js';

const $ = (id) => document.getElementById(id);
const MIN_ANSWERS = 2;

/** The Compare view. */
export class CompareView {
  constructor(api, settings, announce) {
    this.api = api;
    this.settings = settings;
    this.announce = announce;
    $('compare-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.run();
    });
    $('add-answer').addEventListener('click', () => this.addAnswer('', true));
    for (let i = 0; i < MIN_ANSWERS; i++) this.addAnswer('', false);
  }

  /** Enables scoring only when a reward model is served. */
  modelsChanged() {
    const has = this.settings.rewardModels().length > 0;
    $('compare-score').disabled = !has;
    $('compare-note-model').textContent = has ? '' : 'No reward model is served (start the server with --reward-model DIR): nothing can be scored.';
  }

  answerBoxes() {
    return [...$('answers').querySelectorAll('textarea')];
  }

  addAnswer(text, focus) {
    const list = $('answers');
    const li = document.createElement('li');
    const label = document.createElement('label');
    const area = document.createElement('textarea');
    area.rows = 3;
    area.value = text;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'secondary';
    remove.addEventListener('click', () => {
      if (this.answerBoxes().length <= MIN_ANSWERS) return;
      li.remove();
      this.renumber();
    });
    li.append(label, area, remove);
    list.append(li);
    this.renumber();
    if (focus) area.focus();
  }

  /** Labels follow the order on screen: "Answer 1", "Answer 2", … */
  renumber() {
    const items = [...$('answers').children];
    items.forEach((li, i) => {
      const area = li.querySelector('textarea');
      area.id = `answer-${i + 1}`;
      const label = li.querySelector('label');
      label.htmlFor = area.id;
      label.textContent = `Answer ${i + 1}`;
      const remove = li.querySelector('button');
      remove.textContent = `Remove answer ${i + 1}`;
      remove.hidden = items.length <= MIN_ANSWERS;
    });
  }

  async run() {
    const answers = this.answerBoxes().map((a) => a.value);
    $('compare-error').textContent = '';
    $('compare-score').disabled = true;
    this.announce('Scoring answers…');
    try {
      const body = {
        model: this.settings.rewardModel || undefined,
        messages: [{ role: 'user', content: $('compare-prompt').value }],
        responses: answers,
      };
      const scored = await this.api.json('/v1/score', body);
      this.render(answers, scored);
      this.announce('Scores ready.');
    } catch (err) {
      $('compare-error').textContent = describeError(err);
      this.announce('Scoring failed.');
    } finally {
      $('compare-score').disabled = this.settings.rewardModels().length === 0;
    }
  }

  render(answers, scored) {
    const body = $('compare-rows');
    body.replaceChildren();
    const range = attributeRange(scored.data.map((d) => d.attributes));
    // The attributes column exists only for attribute-head reward models (HelpSteer2).
    const withAttributes = scored.data.some((d) => d.attributes);
    for (const d of scored.data) {
      const tr = document.createElement('tr');
      tr.dataset.index = String(d.index);
      if (d.rank === 1) tr.className = 'winner';
      const cells = [
        `Answer ${d.index + 1}`,
        answers[d.index] ?? '',
        fixed3(d.score),
        d.rank === undefined ? '—' : `${d.rank}${d.rank === 1 ? ' (best)' : ''}`,
        fixed3(d.win_probability ?? undefined),
      ];
      cells.forEach((text, i) => {
        const cell = document.createElement(i === 0 ? 'th' : 'td');
        if (i === 0) cell.scope = 'row';
        cell.className = ['name', 'answer', 'score', 'rank', 'win'][i];
        cell.textContent = text;
        tr.append(cell);
      });
      if (withAttributes) {
        const attrs = document.createElement('td');
        attrs.className = 'attrs';
        if (d.attributes) attrs.append(attributeBars(d.attributes, range));
        else attrs.textContent = '—';
        tr.append(attrs);
      }
      body.append(tr);
    }
    $('attr-col').hidden = !withAttributes;
    $('compare-results').hidden = false;
    $('compare-model').textContent = `Scored by ${scored.model}.`;
  }
}
