// The Kubernetes flow, run here with the manifests' own values: the pull Job's containers (the server
// entry's `pull` subcommand, their args and env) fill a hub cache from a fake hub; then the server starts
// with the Deployment's env and entry (`node --import tsx src/main.ts`, as the Dockerfile runs it), answers
// the liveness and startup probes, serves both models under their served names, exports the HPA's metric
// per model, passes the Dockerfile's HEALTHCHECK command, and exits 0 on SIGTERM.
// The random-weight demo models stand in for the 70B exports; CPU stands in for CUDA.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../src/server/config.ts';
import { FakeHub, filesOfFolder } from './helpers/fake-hub.ts';

type Obj = Record<string, any>;

const K8S = join(REPO_ROOT, 'deploy', 'kubernetes');
const CHAT_DIR = join(REPO_ROOT, 'models', 'instruct');
const REWARD_DIR = join(REPO_ROOT, 'models', 'reward');
const haveModels = existsSync(join(CHAT_DIR, 'config.json')) && existsSync(join(REWARD_DIR, 'config.json'));

function docs(file: string): Obj[] {
  return [...parseAllDocuments(readFileSync(file, 'utf8'))].map((d) => d.toJS() as Obj);
}

const deployment = docs(join(K8S, 'deployment.yaml')).find((d) => d.kind === 'Deployment')!;
const job = docs(join(K8S, 'pull-models', 'job.yaml')).find((d) => d.kind === 'Job')!;
const server = (deployment.spec.template.spec.containers as Obj[]).find((c) => c.name === 'server')!;

let modelsDir = '';
/** The manifests' /models paths, moved into a temporary folder. */
const relocate = (v: string) => v.replace(/^\/models(?=\/|$)/, modelsDir);

/** A container's plain env values (secret refs left out: no Secret exists here), relocated. */
function envOf(c: Obj): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of (c.env ?? []) as Obj[]) if (typeof e.value === 'string') out[e.name] = relocate(e.value);
  return out;
}

/** The image's entry point with the container's args. */
function entry(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

let hub: FakeHub;

before(async () => {
  if (!haveModels) return;
  modelsDir = mkdtempSync(join(tmpdir(), 'deploy-flow-'));
  hub = new FakeHub();
  const [chatId, rewardId] = [envOf(server).MODEL!, envOf(server).REWARD_MODEL!];
  hub.addRepo(chatId, filesOfFolder(CHAT_DIR));
  hub.addRepo(rewardId, filesOfFolder(REWARD_DIR));
  await hub.start();
});

after(async () => {
  await hub?.close();
  if (modelsDir) rmSync(modelsDir, { recursive: true, force: true });
});

test('pull Job, then the Deployment serves the pulled models and passes its probes', { skip: !haveModels && 'models/ not built (npm run build:models)', timeout: 180_000 }, async () => {
  // 1. The Job: each container pulls its model into HF_HUB_CACHE on the volume.
  for (const c of job.spec.template.spec.containers as Obj[]) {
    const child = entry(c.args as string[], { ...envOf(c), HF_ENDPOINT: hub.url });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d));
    assert.equal(await exitOf(child), 0, `${c.name}: ${err}`);
  }

  // 2. The server, with the Deployment's env (CPU instead of CUDA, a free port, a small KV budget).
  const env: Record<string, string> = { ...envOf(server), EXECUTION_PROVIDER: 'cpu', HOST: '127.0.0.1', PORT: '0', KV_CACHE_MEMORY: '256MiB' };
  const child = entry((server.args ?? []) as string[], env);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  const exited = exitOf(child);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line:\n${out}`)), 60_000);
      const look = () => {
        const m = /listening on (http:\/\/[^\s"]+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      };
      child.stdout!.on('data', look);
      child.stderr!.on('data', look);
      void exited.then(() => reject(new Error(`server exited:\n${out}`)));
    });
    const port = new URL(url).port;

    // Liveness answers at once; the startup probe's path turns 200 once both models are loaded.
    const get = (path: string) => fetch(`${url}${path}`);
    assert.equal((await get(server.livenessProbe.httpGet.path)).status, 200);
    const deadline = Date.now() + 120_000;
    let status = 0;
    while (Date.now() < deadline && (status = (await get(server.startupProbe.httpGet.path)).status) !== 200) {
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(status, 200, `never ready:\n${out}`);
    assert.equal((await get(server.readinessProbe.httpGet.path)).status, 200);

    // Both models, under the served names the Deployment gives them.
    const ids = ((await (await get('/v1/models')).json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
    assert.deepEqual(ids.sort(), [env.SERVED_MODEL_NAME, env.REWARD_SERVED_MODEL_NAME].sort());

    // The HPA's metric, per model, as the Prometheus adapter's seriesQuery expects it.
    const metrics = await (await get('/metrics')).text();
    assert.match(metrics, new RegExp(`^nemotron_num_requests_waiting\\{model_name="${env.SERVED_MODEL_NAME}"\\} 0$`, 'm'));

    // The Dockerfile's HEALTHCHECK command, verbatim, against this server.
    const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').replace(/\\\r?\n/g, ' ');
    const hc = /^HEALTHCHECK .*? CMD (\[.*\])\s*$/m.exec(dockerfile);
    assert.ok(hc, 'HEALTHCHECK in exec form');
    const [cmd, ...cmdArgs] = JSON.parse(hc[1]!) as string[];
    assert.equal(cmd, 'node');
    const probe = (p: string) => exitOf(spawn(process.execPath, cmdArgs, { env: { PORT: p }, stdio: 'ignore' }));
    assert.equal(await probe(port), 0, 'healthy');
  } finally {
    // SIGTERM, as the kubelet sends after preStop: nothing in flight, so it stops at once with 0.
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, out);
});
