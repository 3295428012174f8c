// parseConfig / helpText: defaults, flags over env, each invalid value naming its flag, and --help.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ConfigError, OPTIONS, REPO_ROOT, helpText, parseConfig, parseSize } from '../src/server/config.ts';

const GiB = 1024 ** 3;

describe('defaults', () => {
  test('every field is filled', () => {
    const c = parseConfig([], {});
    assert.deepEqual(c, {
      help: false,
      host: '127.0.0.1',
      port: 8000,
      model: { dir: join(REPO_ROOT, 'models', 'instruct'), servedName: 'instruct', deviceId: 0, explicit: false },
      rewardModel: { dir: join(REPO_ROOT, 'models', 'reward'), servedName: 'reward', deviceId: 0, explicit: false },
      reward: { readout: undefined, weights: undefined, maxTokens: 0, maxBatchTokens: 8192 },
      limits: {
        maxN: 16, maxTokens: 4096, maxPromptTokens: 0, maxBodyBytes: 4 * 1024 * 1024, requestTimeoutMs: 0, maxBestOf: 16,
        maxLogitBias: 300, maxStop: 16, maxTools: 128, maxMessages: 2048, maxScoreItems: 1000,
        responsesStoreSize: 1000, responsesStoreTtlMs: 3600 * 1000,
      },
      engine: { maxNumSeqs: 64, maxNumQueuedReqs: 256, maxNumBatchedTokens: 512, kvCacheBytes: 2 * GiB, prefixCaching: true },
      execution: { provider: 'cpu', intraOpThreads: 0, cudaFallbackToCpu: false, scoreRuntime: 'native' },
      logLevel: 'info',
      generationConfig: 'auto',
      shutdownGraceMs: 30_000,
    });
    assert.equal('apiKey' in c.limits, false, 'no key means no auth');
  });

  test('reward flags: readout, attribute weights, limits; bad values name the flag', () => {
    const c = parseConfig(['--reward-readout', 'head', '--reward-attribute-weights', '0.5, -1', '--reward-max-tokens', '4096', '--max-best-of', '8'], {});
    assert.deepEqual(c.reward, { readout: 'head', weights: [0.5, -1], maxTokens: 4096, maxBatchTokens: 8192 });
    assert.equal(c.limits.maxBestOf, 8);
    assert.equal(parseConfig(['--reward-readout', 'token_logit:12'], {}).reward.readout, 'token_logit:12');
    assert.throws(() => parseConfig(['--reward-readout', 'mean'], {}), /--reward-readout/);
    assert.throws(() => parseConfig(['--reward-attribute-weights', '1,x'], {}), /--reward-attribute-weights/);
  });

  test('the default model folders do not depend on the working directory', () => {
    assert.equal(parseConfig([], {}, '/somewhere/else').model.dir, join(REPO_ROOT, 'models', 'instruct'));
  });
});

describe('flags and environment', () => {
  test('env values apply when no flag is given', () => {
    const c = parseConfig([], {
      HOST: '0.0.0.0',
      PORT: '9000',
      API_KEY: 'sk-env',
      EXECUTION_PROVIDER: 'CUDA',
      LOG_LEVEL: 'debug',
      MAX_NUM_SEQS: '8',
      KV_CACHE_MEMORY: '512MiB',
      CUDA_FALLBACK_CPU: 'yes',
      SHUTDOWN_GRACE: '5',
    });
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.port, 9000);
    assert.equal(c.limits.apiKey, 'sk-env');
    assert.equal(c.execution.provider, 'cuda');
    assert.equal(c.logLevel, 'debug');
    assert.equal(c.engine.maxNumSeqs, 8);
    assert.equal(c.engine.kvCacheBytes, 512 * 1024 ** 2);
    assert.equal(c.execution.cudaFallbackToCpu, true);
    assert.equal(c.shutdownGraceMs, 5000);
  });

  test('flags win over env', () => {
    const env = { HOST: '0.0.0.0', PORT: '9000', API_KEY: 'sk-env', EXECUTION_PROVIDER: 'cuda', LOG_LEVEL: 'debug', MAX_TOKENS: '100' };
    const c = parseConfig(
      ['--host', '10.0.0.1', '--port', '9100', '--api-key', 'sk-flag', '--execution-provider', 'cpu', '--log-level=warn', '--max-tokens', '200'],
      env,
    );
    assert.equal(c.host, '10.0.0.1');
    assert.equal(c.port, 9100);
    assert.equal(c.limits.apiKey, 'sk-flag');
    assert.equal(c.execution.provider, 'cpu');
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.limits.maxTokens, 200);
  });

  test('empty env values count as unset', () => {
    assert.equal(parseConfig([], { PORT: '', API_KEY: '' }).port, 8000);
    assert.equal('apiKey' in parseConfig([], { API_KEY: '' }).limits, false);
  });

  test('numeric limits and sizes', () => {
    const c = parseConfig(
      [
        '--max-num-seqs', '4', '--max-num-queued-reqs', '0', '--max-num-batched-tokens', '128', '--max-n', '2',
        '--max-prompt-tokens', '1000', '--max-body-bytes', '1MiB', '--request-timeout', '2.5', '--kv-cache-memory', '1.5GiB',
        '--threads', '3', '--shutdown-grace', '0',
      ],
      {},
    );
    assert.deepEqual(c.engine, { maxNumSeqs: 4, maxNumQueuedReqs: 0, maxNumBatchedTokens: 128, kvCacheBytes: 1.5 * GiB, prefixCaching: true });
    assert.equal(parseConfig(['--no-prefix-caching'], {}).engine.prefixCaching, false);
    assert.equal(parseConfig([], { NO_PREFIX_CACHING: '1' }).engine.prefixCaching, false);
    assert.equal(c.limits.maxN, 2);
    assert.equal(c.limits.maxPromptTokens, 1000);
    assert.equal(c.limits.maxBodyBytes, 1024 ** 2);
    assert.equal(c.limits.requestTimeoutMs, 2500);
    assert.equal(c.execution.intraOpThreads, 3);
    assert.equal(c.shutdownGraceMs, 0);
  });

  test('parseSize knows bytes, binary and decimal units', () => {
    assert.equal(parseSize('1234'), 1234);
    assert.equal(parseSize('8GiB'), 8 * GiB);
    assert.equal(parseSize('8 gib'), 8 * GiB);
    assert.equal(parseSize('500MB'), 500e6);
    assert.equal(parseSize('4KiB'), 4096);
    assert.equal(parseSize('4XB'), undefined);
    assert.equal(parseSize('-1'), undefined);
    assert.equal(parseSize('GiB'), undefined);
  });

  test('model folders resolve against the working directory; names default to their basename', () => {
    // './' makes it a path: a bare 'm/chat-70b' that does not exist is read as a hub model id (test/pull-config.test.ts).
    const c = parseConfig(['--model', './m/chat-70b', '--reward-model', '/abs/rm-70b'], {}, '/work/dir');
    assert.equal(c.model.dir, '/work/dir/m/chat-70b');
    assert.equal(c.model.servedName, 'chat-70b');
    assert.equal(c.model.explicit, true);
    assert.equal(c.rewardModel?.dir, '/abs/rm-70b');
    assert.equal(c.rewardModel?.servedName, 'rm-70b');
    assert.equal(c.rewardModel?.explicit, true);
    const named = parseConfig(['--served-model-name', 'nvidia/Nemotron', '--reward-served-model-name', 'nvidia/Nemotron-Reward'], {});
    assert.equal(named.model.servedName, 'nvidia/Nemotron');
    assert.equal(named.rewardModel?.servedName, 'nvidia/Nemotron-Reward');
  });

  test('device ids: the reward model follows the chat model unless told otherwise', () => {
    assert.equal(parseConfig(['--device-id', '1'], {}).rewardModel?.deviceId, 1);
    const c = parseConfig(['--device-id', '1', '--reward-device-id', '2'], {});
    assert.equal(c.model.deviceId, 1);
    assert.equal(c.rewardModel?.deviceId, 2);
  });

  test('the reward model can be turned off', () => {
    assert.equal(parseConfig(['--no-reward-model'], {}).rewardModel, null);
    assert.equal(parseConfig([], { REWARD_MODEL: 'none' }).rewardModel, null);
    assert.equal(parseConfig(['--no-reward-model'], { REWARD_MODEL: '/x/rm' }).rewardModel, null);
    assert.throws(() => parseConfig(['--reward-model', '/x/rm', '--no-reward-model'], {}), /--no-reward-model/);
  });

  test('the chat and reward models cannot share a name', () => {
    assert.throws(
      () => parseConfig(['--served-model-name', 'same', '--reward-served-model-name', 'same'], {}),
      (e: unknown) => e instanceof ConfigError && /--served-model-name/.test(e.message) && /'same'/.test(e.message),
    );
    // With the reward model off, any chat name is fine.
    assert.equal(parseConfig(['--served-model-name', 'reward', '--no-reward-model'], {}).model.servedName, 'reward');
  });

  test('--help sets help', () => {
    assert.equal(parseConfig(['--help'], {}).help, true);
  });
});

describe('invalid values name their flag', () => {
  const cases: Array<[string[], string]> = [
    [['--port', 'abc'], 'port'],
    [['--port', '70000'], 'port'],
    [['--port=-1'], 'port'],
    [['--host', ''], 'host'],
    [['--model', ''], 'model'],
    [['--reward-model', ''], 'reward-model'],
    [['--served-model-name', ' '], 'served-model-name'],
    [['--reward-served-model-name', ''], 'reward-served-model-name'],
    [['--api-key', ''], 'api-key'],
    [['--max-num-seqs', '0'], 'max-num-seqs'],
    [['--max-num-queued-reqs=-1'], 'max-num-queued-reqs'],
    [['--max-num-batched-tokens', '0'], 'max-num-batched-tokens'],
    [['--max-tokens', '0'], 'max-tokens'],
    [['--max-n', '1.5'], 'max-n'],
    [['--max-prompt-tokens', 'lots'], 'max-prompt-tokens'],
    [['--max-body-bytes', '4XB'], 'max-body-bytes'],
    [['--max-body-bytes', '0'], 'max-body-bytes'],
    [['--request-timeout=-5'], 'request-timeout'],
    [['--kv-cache-memory', 'lots'], 'kv-cache-memory'],
    [['--execution-provider', 'tpu'], 'execution-provider'],
    [['--device-id', 'gpu0'], 'device-id'],
    [['--reward-device-id', '1.5'], 'reward-device-id'],
    [['--threads=-2'], 'threads'],
    [['--log-level', 'loud'], 'log-level'],
    [['--shutdown-grace', 'soon'], 'shutdown-grace'],
  ];
  for (const [argv, flag] of cases) {
    test(`${argv.join(' ')}`, () => {
      assert.throws(
        () => parseConfig(argv, {}),
        (e: unknown) => e instanceof ConfigError && e.message.includes(`--${flag}`),
      );
    });
  }

  test('a bad value from the environment names the flag and the variable', () => {
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ PORT: 'eighty' }, '--port', 'PORT'],
      [{ EXECUTION_PROVIDER: 'rocm' }, '--execution-provider', 'EXECUTION_PROVIDER'],
      [{ CUDA_FALLBACK_CPU: 'maybe' }, '--cuda-fallback-cpu', 'CUDA_FALLBACK_CPU'],
      [{ LOG_LEVEL: 'chatty' }, '--log-level', 'LOG_LEVEL'],
    ];
    for (const [env, flag, name] of cases) {
      assert.throws(
        () => parseConfig([], env),
        (e: unknown) => e instanceof ConfigError && e.message.includes(flag) && e.message.includes(name) && e.message.includes(Object.values(env)[0]!),
      );
    }
  });

  test('unknown flags, missing values and positionals are refused', () => {
    assert.throws(() => parseConfig(['--prot', '80'], {}), (e: unknown) => e instanceof ConfigError && e.message.includes('--prot'));
    assert.throws(() => parseConfig(['--port'], {}), (e: unknown) => e instanceof ConfigError && e.message.includes('--port'));
    assert.throws(() => parseConfig(['models/instruct'], {}), ConfigError);
  });
});

describe('helpText', () => {
  const text = helpText();
  const lines = text.split('\n');

  test('lists every flag the server takes', () => {
    const expected = [
      'host', 'port', 'model', 'reward-model', 'no-reward-model', 'served-model-name', 'reward-served-model-name', 'api-key',
      'max-num-seqs', 'max-num-queued-reqs', 'max-num-batched-tokens', 'max-tokens', 'max-n', 'max-prompt-tokens',
      'max-body-bytes', 'request-timeout', 'kv-cache-memory', 'execution-provider', 'device-id', 'reward-device-id',
      'cuda-fallback-cpu', 'score-runtime', 'threads', 'log-level', 'shutdown-grace', 'help',
      'revision', 'reward-revision', 'cache-dir', 'pull',
      'reward-readout', 'reward-attribute-weights', 'reward-max-tokens', 'reward-max-batch-tokens', 'max-best-of',
      'max-logit-bias', 'max-stop', 'max-tools', 'max-messages', 'max-score-items', 'no-web-ui',
      'no-prefix-caching', 'responses-store-size', 'responses-store-ttl',
      'generation-config', 'chat-template', 'allowed-origins',
    ];
    for (const flag of expected) {
      assert.ok(lines.some((l) => new RegExp(`^\\s+--${flag}(\\s|$)`).test(l)), `--${flag} missing from help`);
    }
    assert.equal(OPTIONS.length, expected.length, 'every option is expected by this test');
  });

  test('each flag line shows its env var and default', () => {
    for (const o of OPTIONS) {
      const line = lines.find((l) => new RegExp(`^\\s+--${o.flag}(\\s|$)`).test(l))!;
      if (o.env) assert.ok(line.includes(`env ${o.env}`), `${o.flag}: ${line}`);
      if (o.shown) assert.ok(line.includes(`default: ${o.shown}`), `${o.flag}: ${line}`);
    }
    for (const [flag, shown] of [['host', '127.0.0.1'], ['port', '8000'], ['max-tokens', '4096'], ['max-n', '16'], ['shutdown-grace', '30'], ['log-level', 'info']]) {
      assert.ok(lines.find((l) => l.includes(`--${flag} `))!.includes(`default: ${shown}`), flag);
    }
    for (const env of ['HOST', 'PORT', 'API_KEY', 'EXECUTION_PROVIDER', 'LOG_LEVEL']) assert.ok(text.includes(`env ${env}`), env);
  });
});
