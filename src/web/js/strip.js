// The server strip: served models and where they run (/v1/models), and from /metrics every few
// seconds the running and waiting sequences, KV cache usage and recent generation speed.
// Generated tokens are counted when a request ends, so the speed is the rate over the last interval(s)
// in which requests finished, not an instantaneous figure.
import { describeError } from './api.js';
import { maxOf, parsePrometheus, sumOf } from './format.js';

/** How often /metrics is read, ms. */
export const STRIP_INTERVAL_MS = 3000;

const $ = (id) => document.getElementById(id);

/** The server strip. */
export class ServerStrip {
  constructor(api) {
    this.api = api;
    this.last = null;
    this.timer = null;
  }

  /** Shows the model list (from /v1/models). */
  setModels(models) {
    $('strip-models').textContent =
      models.length === 0 ? 'none yet' : models.map((m) => `${m.id} (${m.task === 'reward' ? 'reward' : 'chat'})`).join(', ');
    // Execution provider per model ("cpu", "cuda"); one word when every model runs on the same one.
    const providers = models.filter((m) => m.provider);
    const kinds = [...new Set(providers.map((m) => m.provider))];
    $('strip-provider').textContent =
      kinds.length === 0 ? '—' : kinds.length === 1 ? kinds[0] : providers.map((m) => `${m.id}: ${m.provider}`).join(', ');
  }

  /** Reads /metrics now and every STRIP_INTERVAL_MS (skipped while the tab is hidden). */
  start() {
    const tick = async () => {
      const more = document.hidden ? true : await this.refresh();
      if (more) this.timer = setTimeout(tick, STRIP_INTERVAL_MS);
    };
    void tick();
  }

  /** One reading; false when the server has no /metrics (no point asking again). */
  async refresh() {
    let metrics;
    try {
      metrics = parsePrometheus(await this.api.text('/metrics'));
    } catch (err) {
      $('strip-state').textContent = `metrics unavailable: ${describeError(err)}`;
      return err.status !== 404;
    }
    $('strip-state').textContent = '';
    const generated = sumOf(metrics, 'nemotron_generation_tokens_total');
    const now = performance.now();
    $('strip-running').textContent = String(sumOf(metrics, 'nemotron_num_requests_running'));
    $('strip-waiting').textContent = String(sumOf(metrics, 'nemotron_num_requests_waiting'));
    const kv = maxOf(metrics, 'nemotron_kv_cache_usage_perc');
    $('strip-kv').textContent = kv === undefined ? '—' : `${(kv * 100).toFixed(1)} %`;
    if (this.last && now > this.last.at) {
      const rate = ((generated - this.last.generated) * 1000) / (now - this.last.at);
      $('strip-tps').textContent = rate.toFixed(1);
    }
    this.last = { generated, at: now };
    return true;
  }
}
