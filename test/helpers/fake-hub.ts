/**
 * A small imitation of the Hugging Face Hub on 127.0.0.1, serving exactly the endpoints that
 * src/hub/pull.ts reaches through @huggingface/hub 2.17 and fetch:
 *
 * - GET  /api/models/{org}/{name}/revision/{rev}?expand=…       modelInfo(): JSON with `sha`, `gated`
 * - GET  /api/models/{org}/{name}/tree/{rev}?recursive=true…    listFiles(): JSON entries, paged with
 *                                                               `Link: <…&cursor=N>; rel="next"` when treePageSize is set
 * - GET|HEAD /{org}/{name}/resolve/{rev}/{path}                 fileDownloadInfo() probes with Range: bytes=0-0;
 *   downloads GET it (with Range to resume). Small files are answered directly (ETag = git blob sha1);
 *   LFS files get a 302 to /cdn/{sha256} with X-Linked-ETag / X-Linked-Size, as the hub redirects to its CDN.
 * - GET|HEAD /cdn/{sha256}                                      LFS bytes, Range supported
 *
 * Dataset repos (addRepo(id, files, { repoType: 'dataset' })) answer at the dataset paths instead, as the
 * hub does: /api/datasets/{org}/{name}/revision/{rev}, /api/datasets/{org}/{name}/tree/{rev} and
 * /datasets/{org}/{name}/resolve/{rev}/{path}; asked for at the model paths they are not found, and
 * the reverse. Fault helpers (dropConnection, corrupt) name a dataset repo `datasets/{org}/{name}`.
 *
 * Errors are answered as the hub answers them: 404 with X-Error-Code RepoNotFound / RevisionNotFound /
 * EntryNotFound; a private repo without a good token: 401 RepoNotFound; a gated repo's files without a
 * token: 401 GatedRepo, with a token not granted access: 403 GatedRepo (its info and tree stay public).
 * Faults for tests: dropConnection() cuts a download after N bytes; corrupt() serves wrong bytes;
 * ignoreResumeRanges answers a resume with the whole file.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';

/** One file of a fake repo. */
export interface FakeFile {
  content: Buffer;
  /** Stored with LFS (listed with lfs.oid = sha256, downloaded through the CDN redirect). */
  lfs: boolean;
  sha256: string;
  /** git blob sha1 of what git stores: the content, or for LFS files the pointer file. */
  gitOid: string;
}

export interface FakeRepo {
  id: string;
  repoType: 'model' | 'dataset';
  commit: string;
  files: Map<string, FakeFile>;
  gated: boolean;
  private: boolean;
}

export interface RecordedRequest {
  method: string;
  url: string;
  range?: string;
  authorization?: string;
}

export interface FakeRepoOptions {
  gated?: boolean;
  private?: boolean;
  /** Files at least this big (and every .onnx / .onnx_data / .data / .parquet file) are LFS files. Default 1 MiB. */
  lfsMinBytes?: number;
  /** 'model' (default) or 'dataset': which API and download paths serve it. */
  repoType?: 'model' | 'dataset';
}

/** Key of a repo in the fake: `org/name` for a model, `datasets/org/name` for a dataset. */
export function fakeRepoKey(id: string, repoType: 'model' | 'dataset' = 'model'): string {
  return repoType === 'model' ? id : `datasets/${id}`;
}

export function gitBlobSha1(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

export function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Reads every file of a folder into a path → content map (paths with '/'). */
export function filesOfFolder(dir: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p).split(sep).join('/')] = readFileSync(p);
    }
  };
  walk(dir);
  return out;
}

export class FakeHub {
  readonly requests: RecordedRequest[] = [];
  /** Tokens the hub knows; a gated repo's `granted` tokens may download it. */
  readonly tokens = new Set<string>();
  readonly granted = new Set<string>();
  /** Page size of tree listings (0: one page). */
  treePageSize = 0;
  /** Answer ranges that do not start at 0 with the whole file (200), as some proxies do. */
  ignoreResumeRanges = false;
  private readonly repos = new Map<string, FakeRepo>();
  private readonly drops = new Map<string, { afterBytes: number; times: number }>();
  private readonly corrupted = new Set<string>();
  private server?: Server;
  url = '';

  /** Adds a repo; its commit is derived from its content, so the same files give the same commit. */
  addRepo(id: string, files: Record<string, Buffer>, opts: FakeRepoOptions = {}): FakeRepo {
    const lfsMin = opts.lfsMinBytes ?? 1024 * 1024;
    const map = new Map<string, FakeFile>();
    const commitHash = createHash('sha1').update(id);
    for (const [path, content] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const lfs = content.length >= lfsMin || /\.(onnx|onnx_data|data|parquet)$/.test(path);
      const sha = sha256(content);
      const stored = lfs ? Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${content.length}\n`) : content;
      map.set(path, { content, lfs, sha256: sha, gitOid: gitBlobSha1(stored) });
      commitHash.update(path).update(sha);
    }
    const repoType = opts.repoType ?? 'model';
    if (repoType === 'dataset') commitHash.update('dataset');
    const repo: FakeRepo = { id, repoType, commit: commitHash.digest('hex'), files: map, gated: !!opts.gated, private: !!opts.private };
    this.repos.set(fakeRepoKey(id, repoType), repo);
    return repo;
  }

  /** The next `times` downloads of `path` (not the 1-byte probes) stop after `afterBytes` bytes. */
  dropConnection(repo: string, path: string, afterBytes: number, times = 1): void {
    this.drops.set(`${repo}/${path}`, { afterBytes, times });
  }

  /** Serves `path` with its first byte flipped (the listing keeps the true hash). */
  corrupt(repo: string, path: string): void {
    this.corrupted.add(`${repo}/${path}`);
  }

  /** Serves `path` with its true bytes again after corrupt(). */
  uncorrupt(repo: string, path: string): void {
    this.corrupted.delete(`${repo}/${path}`);
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  /** Requests whose URL contains `part` (and, if given, of that method). */
  requestsTo(part: string, method?: string): RecordedRequest[] {
    return this.requests.filter((r) => r.url.includes(part) && (!method || r.method === method));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const u = new URL(req.url ?? '/', this.url);
    this.requests.push({ method: req.method ?? 'GET', url: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization });
    const parts = u.pathname.split('/').slice(1).map(decodeURIComponent);
    try {
      if (parts[0] === 'api' && parts[1] === 'models') return this.api('model', parts.slice(2), u, req, res);
      if (parts[0] === 'api' && parts[1] === 'datasets') return this.api('dataset', parts.slice(2), u, req, res);
      if (parts[0] === 'cdn') return this.cdn(parts[1] ?? '', req, res);
      if (parts[0] === 'datasets' && parts[3] === 'resolve') {
        return this.resolveFile(`datasets/${parts[1]}/${parts[2]}`, parts[4] ?? '', parts.slice(5).join('/'), req, res);
      }
      if (parts[2] === 'resolve') return this.resolveFile(`${parts[0]}/${parts[1]}`, parts[3] ?? '', parts.slice(4).join('/'), req, res);
      return fail(res, 404, 'Not found', 'EntryNotFound');
    } catch (err) {
      fail(res, 500, (err as Error).message);
    }
  }

  private token(req: IncomingMessage): string | undefined {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return m?.[1];
  }

  /** The repo (by fakeRepoKey), or undefined after answering the error the hub gives. `files`: a download (gating applies). */
  private access(key: string, req: IncomingMessage, res: ServerResponse, files: boolean): FakeRepo | undefined {
    const repo = this.repos.get(key);
    const id = repo?.id ?? key;
    const kind = repo?.repoType ?? 'model';
    const token = this.token(req);
    if (token !== undefined && !this.tokens.has(token)) return void fail(res, 401, 'Invalid credentials in Authorization header');
    if (!repo || (repo.private && token === undefined)) {
      // Anonymous callers cannot tell a private repo from a missing one.
      return void (token === undefined ? fail(res, 401, 'Repository not found', 'RepoNotFound') : fail(res, 404, 'Repository not found', 'RepoNotFound'));
    }
    if (repo.gated && files) {
      if (token === undefined) return void fail(res, 401, `Access to ${kind} ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`, 'GatedRepo');
      if (!this.granted.has(token)) return void fail(res, 403, `Access to ${kind} ${id} is restricted and you are not in the authorized list.`, 'GatedRepo');
    }
    return repo;
  }

  private revisionOk(repo: FakeRepo, rev: string): boolean {
    return rev === 'main' || rev === 'HEAD' || rev === repo.commit;
  }

  private api(repoType: 'model' | 'dataset', parts: string[], u: URL, req: IncomingMessage, res: ServerResponse): void {
    const id = `${parts[0]}/${parts[1]}`;
    const repo = this.access(fakeRepoKey(id, repoType), req, res, false);
    if (!repo) return;
    const rev = parts[3] ?? '';
    if (!this.revisionOk(repo, rev)) return fail(res, 404, `Invalid rev id: ${rev}`, 'RevisionNotFound');
    if (parts[2] === 'revision') {
      return json(res, 200, {
        _id: `id-${repo.commit.slice(0, 8)}`, id, private: repo.private, gated: repo.gated ? 'auto' : false,
        ...(repoType === 'model' ? { pipeline_tag: 'text-generation' } : {}), downloads: 0, likes: 0, lastModified: '2025-01-01T00:00:00.000Z', sha: repo.commit,
      });
    }
    if (parts[2] !== 'tree') return fail(res, 404, 'Not found');
    const prefix = parts.slice(4).join('/');
    const recursive = u.searchParams.get('recursive') === 'true';
    const entries = this.treeEntries(repo, prefix, recursive);
    const cursor = Number(u.searchParams.get('cursor') ?? 0);
    const size = this.treePageSize > 0 ? this.treePageSize : entries.length;
    const headers: Record<string, string> = {};
    if (cursor + size < entries.length) {
      const next = new URL(u.href);
      next.searchParams.set('cursor', String(cursor + size));
      headers.Link = `<${next.href}>; rel="next"`;
    }
    json(res, 200, entries.slice(cursor, cursor + size), headers);
  }

  private treeEntries(repo: FakeRepo, prefix: string, recursive: boolean): object[] {
    const dirs = new Set<string>();
    const out: object[] = [];
    for (const [path, f] of repo.files) {
      if (prefix && !path.startsWith(`${prefix}/`)) continue;
      const rest = prefix ? path.slice(prefix.length + 1) : path;
      const segs = rest.split('/');
      for (let i = 1; i < segs.length && (recursive || i === 1); i++) dirs.add((prefix ? `${prefix}/` : '') + segs.slice(0, i).join('/'));
      if (!recursive && segs.length > 1) continue;
      out.push({
        type: 'file', oid: f.gitOid, size: f.content.length, path,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.content.length, pointerSize: 134 } } : {}),
      });
    }
    const dirEntries = [...dirs].sort().map((path) => ({ type: 'directory', oid: gitBlobSha1(Buffer.from(path)), size: 0, path }));
    return [...dirEntries, ...out];
  }

  private resolveFile(id: string, rev: string, path: string, req: IncomingMessage, res: ServerResponse): void {
    const repo = this.access(id, req, res, true);
    if (!repo) return;
    if (!this.revisionOk(repo, rev)) return fail(res, 404, `Invalid rev id: ${rev}`, 'RevisionNotFound');
    const file = repo.files.get(path);
    if (!file) return fail(res, 404, 'Entry not found', 'EntryNotFound');
    const common = { 'X-Repo-Commit': repo.commit };
    if (file.lfs) {
      res.writeHead(302, {
        ...common,
        Location: `${this.url}/cdn/${file.sha256}?repo=${encodeURIComponent(id)}&path=${encodeURIComponent(path)}`,
        'X-Linked-ETag': `"${file.sha256}"`,
        'X-Linked-Size': String(file.content.length),
        'Content-Length': '0',
      });
      return void res.end();
    }
    this.sendBytes(`${id}/${path}`, file, `"${file.gitOid}"`, common, req, res);
  }

  private cdn(sha: string, req: IncomingMessage, res: ServerResponse): void {
    const u = new URL(req.url ?? '/', this.url);
    const id = u.searchParams.get('repo') ?? '';
    const path = u.searchParams.get('path') ?? '';
    const file = this.repos.get(id)?.files.get(path);
    if (!file || file.sha256 !== sha) return fail(res, 404, 'No such object');
    this.sendBytes(`${id}/${path}`, file, `"${sha}"`, {}, req, res);
  }

  /** Answers a GET/HEAD for file bytes, honouring Range, and applying the configured faults. */
  private sendBytes(key: string, file: FakeFile, etag: string, extra: Record<string, string>, req: IncomingMessage, res: ServerResponse): void {
    let body = file.content;
    if (this.corrupted.has(key)) {
      body = Buffer.from(body);
      body[0] = body[0]! ^ 0xff;
    }
    const total = body.length;
    const headers: Record<string, string> = { ...extra, ETag: etag, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
    let start = 0;
    let end = total - 1;
    let status = 200;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (m && !(this.ignoreResumeRanges && Number(m[1]) > 0)) {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), total - 1) : total - 1;
      if (start >= total) {
        res.writeHead(416, { ...headers, 'Content-Range': `bytes */${total}` });
        return void res.end();
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${total}`;
    }
    const slice = body.subarray(start, end + 1);
    headers['Content-Length'] = String(slice.length);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return void res.end();
    const drop = this.drops.get(key);
    if (drop && drop.times > 0 && slice.length > 1) {
      drop.times--;
      const cut = Math.max(0, drop.afterBytes - start);
      res.write(slice.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(slice);
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) });
  res.end(text);
}

function fail(res: ServerResponse, status: number, message: string, code?: string): void {
  json(res, status, { error: message }, code ? { 'X-Error-Code': code, 'X-Error-Message': message } : {});
}

/** Deterministic pseudo-random bytes (xorshift32), so a test repo is the same on every run. */
export function pseudoRandomBytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A small model-shaped repo: root metadata (regular git files), ONNX graph and weights (LFS, the
 * weights ~2 MB so a download takes several chunks), a q4 variant, and a README.
 */
export function demoRepoFiles(): Record<string, Buffer> {
  return {
    'config.json': Buffer.from(JSON.stringify({ architectures: ['LlamaForCausalLM'], model_type: 'llama' }, null, 2)),
    'tokenizer_config.json': Buffer.from('{"bos_token": "<s>"}\n'),
    'tokenizer.json': Buffer.from(JSON.stringify({ model: { vocab: Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`tok${i}`, i])) } })),
    'README.md': Buffer.from('# demo\n'),
    'onnx/model.onnx': pseudoRandomBytes(300_000, 1),
    'onnx/model.onnx_data': pseudoRandomBytes(2_000_000, 2),
    'onnx/model_q4.onnx': pseudoRandomBytes(120_000, 3),
  };
}
