// The deployment files against the server they deploy: every manifest under deploy/kubernetes parses, the
// kustomizations list every manifest, the probes and the ServiceMonitor name routes the app really serves
// (without the API key), the env vars and flags exist in the server's OPTIONS (and parse), the HPA and the
// Prometheus adapter name a metric /metrics exports, the selectors select the Deployment's pods, the grace
// periods fit, and the Dockerfile is multi-stage, non-root, CUDA 12 + cuDNN 9, with the CUDA provider.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parseAllDocuments } from 'yaml';
import { PULL_HELP } from '../src/hub/cli.ts';
import * as appModule from '../src/server/app.ts';
import { OPTIONS, REPO_ROOT, parseConfig } from '../src/server/config.ts';
import { DEFAULT_SERVER_LIMITS } from '../src/server/deps.ts';
import { Metrics } from '../src/server/metrics.ts';

type Obj = Record<string, any>;

const K8S_DIR = join(REPO_ROOT, 'deploy', 'kubernetes');
const API_KEY = 'sk-deploy-test';
/** Kustomize's own kinds: they list files, they are not objects of the cluster. */
const KUBE_KINDS_WITH_FILES = new Set(['Kustomization', 'Component']);

// ---------------------------------------------------------------------------------------------------------
// Loading

interface Manifest {
  file: string;
  doc: Obj;
}

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

/** Every YAML document of a file; fails on any parse error or warning. */
function parseYaml(file: string): Obj[] {
  const out: Obj[] = [];
  for (const d of parseAllDocuments(readFileSync(file, 'utf8'))) {
    assert.deepEqual(d.errors.map(String), [], `${relative(REPO_ROOT, file)}: YAML errors`);
    assert.deepEqual(d.warnings.map(String), [], `${relative(REPO_ROOT, file)}: YAML warnings`);
    const js = d.toJS({ maxAliasCount: 100 }) as Obj | null;
    if (js !== null) out.push(js);
  }
  return out;
}

const FILES = yamlFiles(K8S_DIR);
const ALL: Manifest[] = FILES.flatMap((file) => parseYaml(file).map((doc) => ({ file, doc })));
/** Kubernetes objects (not kustomizations, not Helm values). */
const OBJECTS = ALL.filter((m) => typeof m.doc.kind === 'string' && !KUBE_KINDS_WITH_FILES.has(m.doc.kind));

function one(kind: string, where: (m: Manifest) => boolean = () => true): Obj {
  const found = OBJECTS.filter((m) => m.doc.kind === kind && where(m));
  assert.equal(found.length, 1, `exactly one ${kind} expected, found ${found.map((m) => relative(REPO_ROOT, m.file)).join(', ') || 'none'}`);
  return found[0]!.doc;
}

const inBase = (m: Manifest) => dirname(m.file) === K8S_DIR;
const DEPLOYMENT = one('Deployment', inBase);
const SERVICE = one('Service', inBase);
const HPA = one('HorizontalPodAutoscaler', inBase);
const PDB = one('PodDisruptionBudget', inBase);
const SERVICE_MONITOR = one('ServiceMonitor', inBase);
const PVC = one('PersistentVolumeClaim', inBase);
const JOB = one('Job');
const POD = DEPLOYMENT.spec.template.spec as Obj;
const SERVER = (POD.containers as Obj[]).find((c) => c.name === 'server') as Obj;
const ADAPTER_VALUES = parseYaml(join(K8S_DIR, 'prometheus-adapter', 'values.yaml'))[0]!;

/** Plain `value:` env entries of a container, as an environment object. */
function envOf(container: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of (container.env ?? []) as Obj[]) if (typeof e.value === 'string') env[e.name] = e.value;
  return env;
}

/** Does `selector` (matchLabels-style) select an object labelled `labels`? */
function selects(selector: Obj | undefined, labels: Obj | undefined): boolean {
  assert.ok(selector && Object.keys(selector).length > 0, 'an empty selector selects everything: give labels');
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** A probe's or Service's port (number or container port name) → the container port number. */
function portNumber(port: number | string, container: Obj): number {
  if (typeof port === 'number') return port;
  const p = ((container.ports ?? []) as Obj[]).find((x) => x.name === port);
  assert.ok(p, `no container port named ${port}`);
  return p.containerPort as number;
}

// ---------------------------------------------------------------------------------------------------------
// The app, as the pod runs it: an API key set, metrics on

let app: FastifyInstance;
let ready = false;
let metricsText = '';

before(async () => {
  app = appModule.buildApp({
    models: [],
    limits: { ...DEFAULT_SERVER_LIMITS, apiKey: API_KEY },
    isReady: () => ready,
    metrics: new Metrics({ collectDefault: false }),
    logger: false,
    version: '0.0.0-test',
  });
  await app.ready();
  metricsText = (await app.inject({ method: 'GET', url: '/metrics' })).body;
});

after(async () => {
  await app.close();
});

/** Metric families /metrics declares (from its # TYPE lines). */
function exportedMetrics(): Set<string> {
  return new Set([...metricsText.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
}

// ---------------------------------------------------------------------------------------------------------

describe('manifests parse and kustomize lists them', () => {
  test('every YAML file under deploy/kubernetes parses, and every object names apiVersion, kind, name', () => {
    assert.ok(FILES.length >= 10, `found ${FILES.length} YAML files`);
    for (const { file, doc } of OBJECTS) {
      assert.equal(typeof doc.apiVersion, 'string', `${relative(REPO_ROOT, file)}: apiVersion`);
      assert.equal(typeof doc.metadata?.name, 'string', `${relative(REPO_ROOT, file)}: metadata.name`);
    }
  });

  test('each kustomization lists every manifest of its folder, and every file it lists exists', () => {
    const kustomizations = ALL.filter((m) => KUBE_KINDS_WITH_FILES.has(m.doc.kind));
    assert.ok(kustomizations.some((k) => k.file === join(K8S_DIR, 'kustomization.yaml')), 'deploy/kubernetes/kustomization.yaml');
    for (const { file, doc } of kustomizations) {
      const dir = dirname(file);
      const listed = new Set<string>([
        ...((doc.resources ?? []) as string[]),
        ...((doc.components ?? []) as string[]),
        ...((doc.patches ?? []) as Obj[]).map((p) => p.path as string).filter(Boolean),
      ]);
      for (const entry of listed) assert.ok(existsSync(join(dir, entry)), `${relative(REPO_ROOT, file)} lists ${entry}, which does not exist`);
      const manifestsHere = ALL.filter((m) => dirname(m.file) === dir && m.file !== file && typeof m.doc.kind === 'string');
      for (const m of manifestsHere) {
        const name = relative(dir, m.file);
        assert.ok(listed.has(name), `${relative(REPO_ROOT, file)} does not list ${name}`);
      }
    }
  });

  test('every Kubernetes manifest belongs to some kustomization', () => {
    const dirs = new Set(ALL.filter((m) => KUBE_KINDS_WITH_FILES.has(m.doc.kind)).map((m) => dirname(m.file)));
    for (const { file } of OBJECTS) assert.ok(dirs.has(dirname(file)), `${relative(REPO_ROOT, file)} is in no kustomization's folder`);
  });

  test('the base holds the Deployment, Service, HPA, PDB, ServiceMonitor and PVC; the pull Job stands apart', () => {
    const base = parseYaml(join(K8S_DIR, 'kustomization.yaml'))[0]!;
    assert.deepEqual(
      [...(base.resources as string[])].sort(),
      ['deployment.yaml', 'hpa.yaml', 'pdb.yaml', 'pvc.yaml', 'service.yaml', 'servicemonitor.yaml'],
    );
    assert.equal(HPA.apiVersion, 'autoscaling/v2');
    assert.equal(PDB.apiVersion, 'policy/v1');
    assert.equal(SERVICE_MONITOR.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(JOB.apiVersion, 'batch/v1');
  });
});

describe('probes and port', () => {
  test('the container listens on 8000 on all interfaces, as the server is told', () => {
    const env = envOf(SERVER);
    const cfg = parseConfig([...((SERVER.args ?? []) as string[])], env);
    assert.equal(portNumber('http', SERVER), 8000);
    assert.equal(cfg.port, 8000);
    assert.equal(cfg.host, '0.0.0.0');
  });

  test('liveness GET /health; readiness and startup GET /ready; all on the server port', () => {
    const { livenessProbe, readinessProbe, startupProbe } = SERVER;
    assert.equal(livenessProbe.httpGet.path, '/health');
    assert.equal(readinessProbe.httpGet.path, '/ready');
    assert.equal(startupProbe.httpGet.path, '/ready');
    for (const p of [livenessProbe, readinessProbe, startupProbe]) assert.equal(portNumber(p.httpGet.port, SERVER), 8000);
  });

  test('the probe paths are served without the API key: /health 200, /ready 503 then 200', async () => {
    assert.equal((await app.inject({ method: 'GET', url: SERVER.livenessProbe.httpGet.path })).statusCode, 200);
    ready = false;
    assert.equal((await app.inject({ method: 'GET', url: SERVER.readinessProbe.httpGet.path })).statusCode, 503);
    ready = true;
    assert.equal((await app.inject({ method: 'GET', url: SERVER.startupProbe.httpGet.path })).statusCode, 200);
    // …while the API itself does need the key, so the test really ran with auth on.
    assert.equal((await app.inject({ method: 'GET', url: '/v1/models' })).statusCode, 401);
    const open = (appModule as Record<string, unknown>).OPEN_ROUTES;
    if (open instanceof Set) for (const p of ['/health', '/ready', '/metrics']) assert.ok(open.has(p), `${p} open`);
  });

  test('the startup probe allows minutes for the 70B models to load', () => {
    const s = SERVER.startupProbe;
    assert.ok(s.periodSeconds * s.failureThreshold >= 600, `startup budget ${s.periodSeconds * s.failureThreshold}s`);
    assert.ok(DEPLOYMENT.spec.progressDeadlineSeconds >= s.periodSeconds * s.failureThreshold, 'rollout deadline covers loading');
  });
});

describe('server settings', () => {
  const optionEnv = new Set(OPTIONS.map((o) => o.env).filter(Boolean));
  const optionFlags = new Set(OPTIONS.map((o) => `--${o.flag}`));
  const srcText = sourceText(join(REPO_ROOT, 'src'));

  function sourceText(dir: string): string {
    let s = '';
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) s += sourceText(p);
      else if (name.endsWith('.ts')) s += readFileSync(p, 'utf8');
    }
    return s;
  }

  /** Env vars that are not server options but are read by the server's code (hub cache, hub token). */
  function assertKnownEnv(name: string, where: string): void {
    if (optionEnv.has(name)) return;
    assert.ok(srcText.includes(`env.${name}`), `${where}: env ${name} is neither an OPTIONS env var nor read anywhere in src/`);
  }

  test('every env var of the server container is an option of src/server/config.ts (or read by src/)', () => {
    for (const e of SERVER.env as Obj[]) assertKnownEnv(e.name, 'deployment.yaml');
  });

  test('every --flag in the server container args is an option', () => {
    for (const a of (SERVER.args ?? []) as string[]) {
      if (a.startsWith('--')) assert.ok(optionFlags.has(a.split('=')[0]!), `unknown flag ${a}`);
    }
  });

  test('the env parses: CUDA, both models as hub ids, device ids within the pod GPUs, the grace', () => {
    const cfg = parseConfig([...((SERVER.args ?? []) as string[])], envOf(SERVER));
    assert.equal(cfg.execution.provider, 'cuda');
    assert.ok(cfg.model.hub, 'MODEL is a hub id served from HF_HUB_CACHE');
    assert.ok(cfg.rewardModel?.hub, 'REWARD_MODEL is a hub id');
    assert.equal(cfg.model.hub.cacheDir, envOf(SERVER).HF_HUB_CACHE);
    const gpus = Number(SERVER.resources.limits['nvidia.com/gpu']);
    assert.equal(gpus, 2, 'the base runs the pair on two GPUs');
    assert.equal(Number(SERVER.resources.requests?.['nvidia.com/gpu'] ?? gpus), gpus);
    assert.deepEqual([cfg.model.deviceId, cfg.rewardModel.deviceId], [0, 1]);
    assert.ok(cfg.shutdownGraceMs >= 30_000);
  });

  test('the one-GPU component puts both models on device 0 of one GPU', () => {
    const patch = parseYaml(join(K8S_DIR, 'components', 'one-gpu', 'one-gpu.yaml'))[0]!;
    const c = (patch.spec.template.spec.containers as Obj[]).find((x) => x.name === SERVER.name) as Obj;
    assert.ok(c, 'the patch names the server container');
    assert.equal(Number(c.resources.limits['nvidia.com/gpu']), 1);
    for (const e of c.env as Obj[]) assertKnownEnv(e.name, 'one-gpu.yaml');
    const cfg = parseConfig([], { ...envOf(SERVER), ...envOf(c) });
    assert.deepEqual([cfg.model.deviceId, cfg.rewardModel?.deviceId], [0, 0]);
  });

  test('terminationGracePeriodSeconds outlasts preStop + SHUTDOWN_GRACE + closing the engines', () => {
    const cfg = parseConfig([], envOf(SERVER));
    const pre = SERVER.lifecycle?.preStop?.exec?.command as string[] | undefined;
    const preStopSeconds = pre && pre[0] === 'sleep' ? Number(pre[1]) : 0;
    assert.ok(preStopSeconds > 0, 'a preStop pause lets endpoints drop the pod before SIGTERM');
    const needed = preStopSeconds + cfg.shutdownGraceMs / 1000 + 5;
    assert.ok(POD.terminationGracePeriodSeconds > needed, `terminationGracePeriodSeconds ${POD.terminationGracePeriodSeconds} <= ${needed}`);
  });

  test('rolling update adds a pod before removing one; the HPA owns replicas', () => {
    assert.deepEqual(DEPLOYMENT.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    assert.equal(DEPLOYMENT.spec.replicas, undefined, 'replicas in the manifest would reset the HPA on each apply');
  });

  test('non-root, read-only root file system with a writable /tmp', () => {
    assert.equal(POD.securityContext.runAsNonRoot, true);
    assert.ok(POD.securityContext.runAsUser > 0);
    assert.equal(SERVER.securityContext.allowPrivilegeEscalation, false);
    assert.equal(SERVER.securityContext.readOnlyRootFilesystem, true);
    assert.ok((SERVER.volumeMounts as Obj[]).some((m) => m.mountPath === '/tmp'), 'tsx needs a writable /tmp');
  });

  test('/models comes from the PVC, read-only, and holds the hub cache', () => {
    const mount = (SERVER.volumeMounts as Obj[]).find((m) => m.mountPath === '/models') as Obj;
    assert.ok(mount?.readOnly);
    const vol = (POD.volumes as Obj[]).find((v) => v.name === mount.name) as Obj;
    assert.equal(vol.persistentVolumeClaim?.claimName, PVC.metadata.name);
    assert.ok(envOf(SERVER).HF_HUB_CACHE!.startsWith('/models/'));
  });
});

describe('the pull Job', () => {
  const podSpec = JOB.spec.template.spec as Obj;
  const containers = podSpec.containers as Obj[];

  test('pulls exactly the models the Deployment serves, into the same cache on the same PVC', () => {
    const env = envOf(SERVER);
    const pulled = containers.map((c) => {
      const args = c.args as string[];
      assert.equal(args[0], 'pull', 'the server entry\'s pull subcommand');
      return args[1];
    });
    assert.deepEqual(pulled.sort(), [env.MODEL, env.REWARD_MODEL].sort());
    for (const c of containers) {
      assert.equal(envOf(c).HF_HUB_CACHE, env.HF_HUB_CACHE);
      for (const e of c.env as Obj[]) assertKnownEnvForPull(e.name);
      for (const a of c.args as string[]) {
        if (a.startsWith('--')) assert.ok(PULL_HELP.includes(`${a.split('=')[0]} `), `pull has no flag ${a}`);
      }
      const mount = (c.volumeMounts as Obj[]).find((m) => m.mountPath === '/models') as Obj;
      assert.ok(mount && !mount.readOnly, 'the Job writes the cache');
      const vol = (podSpec.volumes as Obj[]).find((v) => v.name === mount.name) as Obj;
      assert.equal(vol.persistentVolumeClaim?.claimName, PVC.metadata.name);
    }
  });

  function assertKnownEnvForPull(name: string): void {
    assert.ok(PULL_HELP.includes(name) || ['HF_HUB_CACHE'].includes(name), `the pull command reads no ${name}`);
  }

  test('its pods are never selected by the Service or the PDB', () => {
    const labels = JOB.spec.template.metadata.labels as Obj;
    assert.equal(selects(SERVICE.spec.selector, labels), false);
    assert.equal(selects(PDB.spec.selector.matchLabels, labels), false);
  });
});

describe('selectors', () => {
  const podLabels = DEPLOYMENT.spec.template.metadata.labels as Obj;

  test('the Deployment selects its own pods; the Service and PDB select them too', () => {
    assert.ok(selects(DEPLOYMENT.spec.selector.matchLabels, podLabels));
    assert.ok(selects(SERVICE.spec.selector, podLabels));
    assert.ok(selects(PDB.spec.selector.matchLabels, podLabels));
    const anti = POD.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.[0]?.podAffinityTerm;
    if (anti) assert.ok(selects(anti.labelSelector.matchLabels, podLabels));
  });

  test('the Service forwards port 8000 to the container port', () => {
    const port = (SERVICE.spec.ports as Obj[]).find((p) => p.name === 'http') as Obj;
    assert.equal(port.port, 8000);
    assert.equal(portNumber(port.targetPort, SERVER), 8000);
  });

  test('the HPA scales this Deployment', () => {
    assert.deepEqual(HPA.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: DEPLOYMENT.metadata.name });
    assert.ok(HPA.spec.minReplicas >= 1 && HPA.spec.maxReplicas >= HPA.spec.minReplicas);
  });

  test('the ServiceMonitor selects the Service and scrapes a port it names', () => {
    assert.ok(selects(SERVICE_MONITOR.spec.selector.matchLabels, SERVICE.metadata.labels));
    const portNames = new Set((SERVICE.spec.ports as Obj[]).map((p) => p.name));
    for (const ep of SERVICE_MONITOR.spec.endpoints as Obj[]) assert.ok(portNames.has(ep.port), `Service has no port ${ep.port}`);
  });

  test('the pod claims the PVC the manifests create', () => {
    const claims = (POD.volumes as Obj[]).flatMap((v) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : []));
    assert.deepEqual(claims, [PVC.metadata.name]);
    assert.ok((PVC.spec.accessModes as string[]).includes('ReadWriteMany'), 'replicas on several nodes share the models');
  });
});

describe('metrics', () => {
  test('the ServiceMonitor scrapes /metrics, which answers without the API key in Prometheus text', async () => {
    const [ep] = SERVICE_MONITOR.spec.endpoints as Obj[];
    assert.equal(ep!.path, '/metrics');
    const res = await app.inject({ method: 'GET', url: ep!.path });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.equal(DEPLOYMENT.spec.template.metadata.annotations['prometheus.io/path'], ep!.path);
    assert.equal(Number(DEPLOYMENT.spec.template.metadata.annotations['prometheus.io/port']), portNumber('http', SERVER));
  });

  test('the HPA scales on a per-pod metric that /metrics exports', () => {
    const [m] = HPA.spec.metrics as Obj[];
    assert.equal(m!.type, 'Pods');
    assert.equal(m!.pods.metric.name, 'nemotron_num_requests_waiting');
    assert.ok(exportedMetrics().has(m!.pods.metric.name), `/metrics exports no ${m!.pods.metric.name}`);
    assert.equal(m!.pods.target.type, 'AverageValue');
    assert.ok(Number(m!.pods.target.averageValue) > 0);
  });

  test('the Prometheus adapter rules serve the HPA metric per pod, from series /metrics exports', () => {
    const rules = ADAPTER_VALUES.rules.custom as Obj[];
    const exported = exportedMetrics();
    for (const r of rules) {
      const series = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{/.exec(r.seriesQuery)?.[1];
      assert.ok(series && exported.has(series), `adapter rule on ${series}, which /metrics does not export`);
      assert.deepEqual(r.resources.overrides, { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
      assert.ok(new RegExp(r.name.matches).test(series));
      assert.match(r.metricsQuery, /<<\.Series>>\{<<\.LabelMatchers>>\}/);
      assert.match(r.metricsQuery, /by \(<<\.GroupBy>>\)/);
    }
    const names = rules.map((r) => r.name.as as string);
    const hpaMetric = (HPA.spec.metrics as Obj[])[0]!.pods.metric.name as string;
    assert.ok(names.includes(hpaMetric), `no adapter rule serves ${hpaMetric}`);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  /** Instructions with continuation lines joined, comments dropped. */
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const args = new Map<string, string>();
  for (const l of lines) {
    const m = /^ARG\s+(\w+)=(\S+)/.exec(l);
    if (m) args.set(m[1]!, m[2]!);
  }
  const expand = (s: string) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args.get(a ?? b) ?? '');
  const stages: Array<{ image: string; name?: string; lines: string[] }> = [];
  for (const l of lines) {
    const m = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(l);
    if (m) stages.push({ image: expand(m[1]!), name: m[2], lines: [] });
    else stages.at(-1)?.lines.push(l);
  }
  const runtime = stages.at(-1)!;
  const build = stages[0]!;
  const instr = (stage: { lines: string[] }, word: string) => stage.lines.filter((l) => l.toUpperCase().startsWith(`${word} `));

  test('multi-stage: a build stage and a runtime stage that copies from it', () => {
    assert.ok(stages.length >= 2, `${stages.length} stage(s)`);
    assert.ok(build.name, 'the build stage is named');
    assert.ok(instr(runtime, 'COPY').some((l) => l.includes(`--from=${build.name}`)));
  });

  test('the build stage installs with npm ci and fetches the CUDA 12 execution provider', () => {
    const run = instr(build, 'RUN').join('\n');
    assert.match(run, /\bnpm ci\b/);
    assert.match(run, /ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js/);
    // The script and the manifest name exist in the installed onnxruntime-node.
    const ortDir = join(REPO_ROOT, 'node_modules', 'onnxruntime-node');
    assert.ok(existsSync(join(ortDir, 'script', 'install.js')));
    const meta = createRequire(import.meta.url)(join(ortDir, 'script', 'install-metadata.js')) as Obj;
    assert.ok((meta.requirements['linux/x64'] as string[]).includes('cuda12'));
    assert.ok(existsSync(join(REPO_ROOT, 'package-lock.json')), 'npm ci needs the lock file');
  });

  test('the runtime base is NVIDIA CUDA 12 with cuDNN 9 (what onnxruntime-node 1.30 CUDA EP needs)', () => {
    assert.match(runtime.image, /^(nvcr\.io\/)?nvidia\/cuda:12\.\d+(\.\d+)?-cudnn9?-runtime-ubuntu\d+\.\d+$/);
  });

  test('runs as a non-root user, the uid the pods run as', () => {
    const users = instr(runtime, 'USER');
    assert.equal(users.length, 1);
    const user = users[0]!.split(/\s+/)[1]!.split(':')[0]!;
    assert.notEqual(user, 'root');
    assert.notEqual(user, '0');
    assert.equal(Number(user), POD.securityContext.runAsUser, 'numeric, so runAsNonRoot can check it');
  });

  test('EXPOSE, PORT and HOST match the pod; STOPSIGNAL SIGTERM; /models is a volume', () => {
    assert.deepEqual(instr(runtime, 'EXPOSE'), ['EXPOSE 8000']);
    const env = instr(runtime, 'ENV').join(' ');
    assert.match(env, /\bPORT=8000\b/);
    assert.match(env, /\bHOST=0\.0\.0\.0\b/);
    assert.match(env, /\bEXECUTION_PROVIDER=cuda\b/);
    assert.deepEqual(instr(runtime, 'STOPSIGNAL'), ['STOPSIGNAL SIGTERM']);
    assert.ok(instr(runtime, 'VOLUME').some((l) => l.includes('/models')));
  });

  test('every ENV the image sets is a server option (or read by src/)', () => {
    const optionEnv = new Set(OPTIONS.map((o) => o.env).filter(Boolean));
    const names = instr(runtime, 'ENV').flatMap((l) => [...l.slice(4).matchAll(/(\w+)=/g)].map((m) => m[1]!));
    assert.ok(names.length > 0);
    for (const n of names) {
      if (n === 'NODE_ENV') continue;
      assert.ok(optionEnv.has(n) || n === 'HF_HUB_CACHE', `ENV ${n} is no server option`);
    }
  });

  test('HEALTHCHECK requests /health with node (the CUDA base has no curl)', () => {
    const hc = instr(runtime, 'HEALTHCHECK');
    assert.equal(hc.length, 1);
    assert.match(hc[0]!, /\/health\b/);
    assert.match(hc[0]!, /CMD \["node"/);
    assert.doesNotMatch(hc[0]!, /\bcurl\b|\bwget\b/);
  });

  test('the entrypoint runs src/main.ts with tsx directly (no npm start, so no prestart model build)', () => {
    const ep = instr(runtime, 'ENTRYPOINT');
    assert.equal(ep.length, 1);
    const argv = JSON.parse(ep[0]!.slice('ENTRYPOINT '.length)) as string[];
    assert.deepEqual(argv, ['node', '--import', 'tsx', 'src/main.ts']);
    assert.ok(existsSync(join(REPO_ROOT, argv[3]!)));
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as Obj;
    assert.ok(pkg.dependencies.tsx, 'tsx is a runtime dependency (the image installs --omit=dev)');
    assert.ok(!lines.some((l) => /\bnpm (run )?start\b/.test(l)), 'no instruction runs npm start');
  });

  test('what it copies from the context exists and is not excluded by .dockerignore', () => {
    const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const must of ['node_modules', 'models', '.git']) assert.ok(ignore.includes(must), `.dockerignore lacks ${must}`);
    const copied = stages
      .flatMap((s) => instr(s, 'COPY'))
      .filter((l) => !l.includes('--from='))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    assert.ok(copied.length > 0);
    for (const src of copied) {
      assert.ok(existsSync(join(REPO_ROOT, src)), `COPY ${src}: missing`);
      assert.ok(!ignore.includes(src.replace(/\/$/, '')), `COPY ${src}: excluded by .dockerignore`);
    }
  });
});
