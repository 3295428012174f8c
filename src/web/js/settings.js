// The settings panel shared by the views: chat model, reward model, system prompt and sampling
// parameters. Values persist in localStorage; the model lists come from /v1/models.

const STORE = 'nemotron.settings';
const FIELDS = ['system', 'temperature', 'top_p', 'max_tokens', 'seed'];

const $ = (id) => document.getElementById(id);

/** Reads a number input: undefined when blank, else the number as typed (the server checks ranges). */
function numberField(id) {
  const raw = $(id).value.trim();
  if (raw === '') return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : raw;
}

function fillSelect(select, models, saved, emptyText) {
  select.replaceChildren();
  for (const m of models) select.append(new Option(m.id, m.id));
  if (models.length === 0) select.append(new Option(emptyText, ''));
  select.disabled = models.length === 0;
  if (models.some((m) => m.id === saved)) select.value = saved;
}

/** The settings panel. */
export class Settings {
  constructor() {
    this.models = [];
    this.saved = {};
    try {
      this.saved = JSON.parse(localStorage.getItem(STORE) ?? '{}') ?? {};
    } catch {
      this.saved = {};
    }
    for (const f of FIELDS) if (typeof this.saved[f] === 'string') $(f).value = this.saved[f];
    for (const f of [...FIELDS, 'chat-model', 'reward-model']) $(f).addEventListener('change', () => this.save());
  }

  save() {
    const data = Object.fromEntries(FIELDS.map((f) => [f, $(f).value]));
    data.chatModel = $('chat-model').value || this.saved.chatModel;
    data.rewardModel = $('reward-model').value || this.saved.rewardModel;
    this.saved = data;
    localStorage.setItem(STORE, JSON.stringify(data));
  }

  /** Fills the model pickers from a /v1/models answer. */
  setModels(list) {
    this.models = list;
    fillSelect($('chat-model'), this.chatModels(), this.saved.chatModel, 'no chat model served');
    fillSelect($('reward-model'), this.rewardModels(), this.saved.rewardModel, 'none (rank by mean logprob)');
  }

  chatModels() {
    return this.models.filter((m) => m.task !== 'reward');
  }

  rewardModels() {
    return this.models.filter((m) => m.task === 'reward');
  }

  get chatModel() {
    return $('chat-model').value;
  }

  /** The chosen reward model, or '' when none is served. */
  get rewardModel() {
    return $('reward-model').value;
  }

  /** The system prompt as a message list (empty when blank). */
  systemMessages() {
    const text = $('system').value;
    return text.trim() === '' ? [] : [{ role: 'system', content: text }];
  }

  /** Sampling parameters as request fields; blank fields are left to the server's defaults. */
  params() {
    const out = {};
    for (const [field, id] of [['temperature', 'temperature'], ['top_p', 'top_p'], ['max_tokens', 'max_tokens'], ['seed', 'seed']]) {
      const v = numberField(id);
      if (v !== undefined) out[field] = v;
    }
    return out;
  }
}
