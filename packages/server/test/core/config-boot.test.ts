import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/ops/logger.ts';
import { createPombo } from '../../src/pombo.ts';
import { freePort, spawnPombo } from '../helpers/child-pombo.ts';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'pombo-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The problems loadConfig reports for an environment, or [] when it loads. */
function problemsOf(env: Record<string, string>, cwd: string): string[] {
  try {
    loadConfig({ AUTHENTICATION_API_KEY: 'k', ...env }, cwd);
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    assert.match(error.message, /^Invalid configuration:/);
    return error.problems;
  }
}

describe('loadConfig', () => {
  test('a malformed value stops the start with a message naming the variable', (t) => {
    const cwd = tempDir(t);
    assert.throws(() => loadConfig({ SERVER_PORT: 'abc' }, cwd), (error: unknown) => error instanceof ConfigError && /SERVER_PORT="abc"/.test(error.message));
    const cases: Record<string, RegExp> = {
      SERVER_PORT: /SERVER_PORT="70000" must be an integer between 0 and 65535/,
      SERVER_URL: /SERVER_URL="localhost:8080" must be a URL/,
      SERVER_BODY_LIMIT_BYTES: /SERVER_BODY_LIMIT_BYTES="10" must be an integer at least 1024$/,
      DATABASE_PROVIDER: /DATABASE_PROVIDER="mysql" must be one of sqlite, postgresql/,
      DATABASE_SQLITE_SYNCHRONOUS: /DATABASE_SQLITE_SYNCHRONOUS="off" must be one of full, normal/,
      LOG_LEVEL: /LOG_LEVEL="loud" must be one of fatal, error, warn, info, debug, trace, silent/,
      EVENTS_RETENTION_HOURS: /EVENTS_RETENTION_HOURS="-1" must be a number at least 0.0001$/,
      AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES: /AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES="maybe" must be true or false/,
      WEBHOOK_DELIVERY_LOG: /WEBHOOK_DELIVERY_LOG="none" must be one of all, failures/,
    };
    const values: Record<string, string> = {
      SERVER_PORT: '70000',
      SERVER_URL: 'localhost:8080',
      SERVER_BODY_LIMIT_BYTES: '10',
      DATABASE_PROVIDER: 'mysql',
      DATABASE_SQLITE_SYNCHRONOUS: 'off',
      LOG_LEVEL: 'loud',
      EVENTS_RETENTION_HOURS: '-1',
      AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES: 'maybe',
      WEBHOOK_DELIVERY_LOG: 'none',
    };
    for (const [name, pattern] of Object.entries(cases)) {
      const problems = problemsOf({ [name]: values[name] ?? '' }, cwd);
      assert.equal(problems.length, 1, `${name}: ${problems.join('; ')}`);
      assert.match(problems[0] ?? '', pattern);
    }
    assert.equal(problemsOf(values, cwd).length, Object.keys(values).length, 'one start reports every bad variable');
    assert.throws(() => loadConfig({ WEBHOOK_GLOBAL_ENABLED: 'sure' }, cwd), ConfigError);
    assert.ok(!existsSync(join(cwd, 'data')), 'a refused configuration creates nothing, not even a key');
  });

  test("an Evolution API .env's 0 for retry attempts, request timeout or frame size starts, read as the default as Evolution API reads it", (t) => {
    const cwd = tempDir(t);
    const zeros = { WEBHOOK_RETRY_MAX_ATTEMPTS: '0', WEBHOOK_REQUEST_TIMEOUT_MS: '0', RABBITMQ_ENABLED: 'true', RABBITMQ_URI: 'amqp://localhost', RABBITMQ_FRAME_MAX: '0' };
    assert.deepEqual(problemsOf(zeros, cwd), []);
    const config = loadConfig({ AUTHENTICATION_API_KEY: 'k', ...zeros }, cwd);
    assert.equal(config.webhook.retryMaxAttempts, 10, 'Evolution API: parseInt("0") || 10');
    assert.equal(config.webhook.requestTimeoutMs, 60000);
    assert.match(config.brokers.rabbitmq.settings?.uri ?? '', /frameMax=8192/);
    for (const name of Object.keys(zeros).filter((key) => !key.startsWith('RABBITMQ_') || key === 'RABBITMQ_FRAME_MAX')) {
      assert.ok(config.warnings.some((warning) => warning.startsWith(`${name}=0 is read as its default`)), `a warning names ${name}`);
    }
    assert.match(problemsOf({ WEBHOOK_RETRY_MAX_ATTEMPTS: '-1' }, cwd)[0] ?? '', /WEBHOOK_RETRY_MAX_ATTEMPTS="-1" must be an integer at least 1/, 'other values are still checked');
  });

  test('connection limits: documented defaults, and a headers timeout longer than the request timeout stops the start', (t) => {
    const cwd = tempDir(t);
    assert.deepEqual(loadConfig({ AUTHENTICATION_API_KEY: 'k' }, cwd).connections, {
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 120_000,
      keepAliveTimeoutMs: 72_000,
      maxConnections: 10_000,
      socketioConnectTimeoutMs: 10_000,
      socketioMaxBufferedBytes: 4 * 1024 * 1024,
      realtimeMaxBufferedBytes: 4 * 1024 * 1024,
    });
    const problems = problemsOf({ SERVER_HEADERS_TIMEOUT_MS: '30000', SERVER_REQUEST_TIMEOUT_MS: '20000' }, cwd);
    assert.equal(problems.length, 1, problems.join('; '));
    assert.match(problems[0] ?? '', /SERVER_HEADERS_TIMEOUT_MS \(30000\) must not exceed SERVER_REQUEST_TIMEOUT_MS \(20000\)/);
    assert.match(problemsOf({ SERVER_MAX_CONNECTIONS: '0' }, cwd)[0] ?? '', /SERVER_MAX_CONNECTIONS="0"/);
    assert.match(problemsOf({ REALTIME_MAX_BUFFERED_BYTES: '1000' }, cwd)[0] ?? '', /REALTIME_MAX_BUFFERED_BYTES="1000"/);
  });

  test('with nothing set: port 8080, SQLite in ./data, 72 h retention, and a generated key kept in the data folder', (t) => {
    const cwd = tempDir(t);
    const config = loadConfig({}, cwd);
    assert.ok(Object.isFrozen(config));
    assert.equal(config.server.port, 8080);
    assert.equal(config.server.url, 'http://localhost:8080');
    assert.equal(config.database.provider, 'sqlite');
    assert.equal(config.database.uri, join(cwd, 'data', 'pombo.db'));
    assert.equal(config.database.sqliteSync, 'full');
    assert.equal(config.events.retentionHours, 72);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.auth.apiKeyGenerated, true);
    assert.ok(config.auth.apiKey.length >= 32);
    assert.equal(readFileSync(join(cwd, 'data', 'api-key'), 'utf8').trim(), config.auth.apiKey);
    const again = loadConfig({}, cwd);
    assert.equal(again.auth.apiKey, config.auth.apiKey);
    assert.equal(again.auth.apiKeyGenerated, false);
  });

  test('an empty api-key file in DATA_DIR (a first start cut short as it wrote it) stops the start naming DATA_DIR and the file, instead of a server no key opens', (t) => {
    const cwd = tempDir(t);
    mkdirSync(join(cwd, 'data'), { mode: 0o700 });
    for (const content of ['', '  \n']) {
      writeFileSync(join(cwd, 'data', 'api-key'), content, { mode: 0o600 });
      assert.throws(
        () => loadConfig({}, cwd),
        (error: unknown) => error instanceof ConfigError && error.problems.length === 1 && /^DATA_DIR: the file \S+api-key is empty: .*AUTHENTICATION_API_KEY/.test(error.problems[0] ?? ''),
        JSON.stringify(content),
      );
    }
  });

  test('a .env file in the working folder is read; the environment wins over it', (t) => {
    const cwd = tempDir(t);
    writeFileSync(join(cwd, '.env'), 'SERVER_PORT=9090\nLOG_LEVEL=debug\nAUTHENTICATION_API_KEY="from-dotenv"\n');
    const config = loadConfig({ LOG_LEVEL: 'warn' }, cwd);
    assert.equal(config.server.port, 9090);
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.auth.apiKey, 'from-dotenv');
    assert.equal(config.auth.apiKeyGenerated, false);
    assert.ok(!existsSync(join(cwd, 'data', 'api-key')), 'a configured key is not written anywhere');
  });

  test('DATABASE_CONNECTION_URI and DATA_DIR are resolved against the working folder', (t) => {
    const cwd = tempDir(t);
    const config = loadConfig({ DATA_DIR: 'state', DATABASE_CONNECTION_URI: 'db/events.sqlite', AUTHENTICATION_API_KEY: 'k' }, cwd);
    assert.equal(config.dataDir, join(cwd, 'state'));
    assert.equal(config.database.uri, join(cwd, 'db', 'events.sqlite'));
  });

  test('a malformed URL is named but its credentials are not echoed (stderr goes to container logs)', (t) => {
    const cwd = tempDir(t);
    const cases: Record<string, Record<string, string>> = {
      RABBITMQ_URI: { RABBITMQ_ENABLED: 'true', RABBITMQ_URI: 'amqq://guest:supersecret@host' },
      NATS_URI: { NATS_ENABLED: 'true', NATS_URI: 'nats://user:supersecret@host:99999' },
      WEBHOOK_GLOBAL_URL: { WEBHOOK_GLOBAL_URL: 'ftp://user:supersecret@host' },
      SERVER_URL: { SERVER_URL: 'https://user:supersecret@host:99999' },
      WEBHOOK_EVENTS_ERRORS_WEBHOOK: { WEBHOOK_EVENTS_ERRORS: 'true', WEBHOOK_EVENTS_ERRORS_WEBHOOK: 'https://host:99999/errors?token=supersecret' },
      SQS_ENDPOINT_URL: { SQS_ENABLED: 'true', SQS_REGION: 'us-east-1', SQS_ENDPOINT_URL: 'sqs://key:supersecret@host' },
      KAFKA_BROKERS: { KAFKA_ENABLED: 'true', KAFKA_BROKERS: 'user:supersecret@host:9092' },
    };
    for (const [name, env] of Object.entries(cases)) {
      assert.throws(
        () => loadConfig({ AUTHENTICATION_API_KEY: 'k', ...env }, cwd),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.match(error.message, new RegExp(`${name}( has |=)"`), name);
          assert.doesNotMatch(error.message, /supersecret/, name);
          return true;
        },
        name,
      );
    }
    const [twoServers = ''] = problemsOf(
      { SQS_ENABLED: 'true', SQS_REGION: 'us-east-1', SQS_ENDPOINT_URL: 'http://a:supersecret@one', SQS_BASE_URL: 'http://b:supersecret@two' },
      cwd,
    );
    assert.match(twoServers, /SQS_ENDPOINT_URL="http:\/\/a:\*\*\*@one" and SQS_BASE_URL="http:\/\/b:\*\*\*@two" name two servers/);
  });

  test('a malformed WEBHOOK_GLOBAL_SECRET stops the start, whether or not the global webhook is on', (t) => {
    const cwd = tempDir(t);
    const on = { WEBHOOK_GLOBAL_ENABLED: 'true', WEBHOOK_GLOBAL_URL: 'https://example.com/hook' };
    for (const env of [{}, on]) {
      for (const secret of ['abc', `whsec_${Buffer.alloc(8).toString('base64')}`]) {
        const problems = problemsOf({ ...env, WEBHOOK_GLOBAL_SECRET: secret }, cwd);
        assert.equal(problems.length, 1, problems.join('; '));
        assert.match(problems[0] ?? '', /^WEBHOOK_GLOBAL_SECRET must be .*whsec_/);
        assert.ok(!(problems[0] ?? '').includes(secret), 'the value is a secret: not repeated');
      }
    }
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    assert.deepEqual(loadConfig({ AUTHENTICATION_API_KEY: 'k', WEBHOOK_GLOBAL_SECRET: secret }, cwd).webhook.globalSecretKey, Buffer.alloc(32, 7), 'decoded once, at boot');
  });
});

describe("an Evolution API .env starts Pombo unchanged", () => {
  const load = (env: Record<string, string>, cwd: string) => loadConfig({ AUTHENTICATION_API_KEY: 'k', ...env }, cwd);

  test("LOG_LEVEL takes Evolution's comma list of categories: the most verbose level it enables", (t) => {
    const cwd = tempDir(t);
    const cases: Record<string, string> = {
      'ERROR,WARN,DEBUG,INFO,LOG,VERBOSE,DARK,WEBHOOKS': 'debug',
      'ERROR,WARN,INFO,LOG,DARK,WEBHOOKS,WEBSOCKET': 'info',
      'ERROR, WARN': 'warn',
      'ERROR,DARK': 'error',
      VERBOSE: 'debug',
      LOG: 'info',
      'DARK,WEBHOOKS': 'info',
      WEBHOOKS: 'info',
      "'ERROR,WARN'": 'warn',
      ERROR: 'error',
      debug: 'debug',
      trace: 'trace',
      silent: 'silent',
      'warn,trace': 'trace',
    };
    for (const [value, level] of Object.entries(cases)) assert.equal(load({ LOG_LEVEL: value }, cwd).logLevel, level, `LOG_LEVEL=${value}`);
    assert.deepEqual(load({ LOG_LEVEL: 'ERROR,WARN,DARK,WEBHOOKS' }, cwd).warnings, [], "Evolution's own categories pass silently");
    const typo = load({ LOG_LEVEL: 'ERROR,WRAN' }, cwd);
    assert.equal(typo.logLevel, 'error');
    assert.equal(typo.warnings.length, 1);
    assert.match(typo.warnings[0] ?? '', /LOG_LEVEL: "WRAN" is no level or Evolution API category; ignored/);
    assert.match(problemsOf({ LOG_LEVEL: 'loud' }, cwd)[0] ?? '', /LOG_LEVEL="loud" must be one of fatal, error, warn, info, debug, trace, silent/);
  });

  test('a quoted empty value (docker run --env-file passes the quotes on) counts as unset', (t) => {
    const cwd = tempDir(t);
    const config = load({ WEBHOOK_GLOBAL_URL: "''", WEBHOOK_EVENTS_ERRORS_WEBHOOK: '""', CORS_ORIGIN: "''", SERVER_URL: '""' }, cwd);
    assert.equal(config.webhook.globalUrl, undefined);
    assert.deepEqual(config.cors.origins, ['*']);
    assert.equal(config.server.url, 'http://localhost:8080');
  });

  test('toggles of events Pombo does not have are ignored, named in one boot warning', (t) => {
    const cwd = tempDir(t);
    const config = load(
      {
        WEBHOOK_EVENTS_MESSAGES_UPSERT: 'true',
        WEBHOOK_EVENTS_NEW_JWT_TOKEN: 'true',
        WEBHOOK_EVENTS_CHAMA_AI_ACTION: 'false',
        RABBITMQ_ENABLED: 'true',
        RABBITMQ_URI: 'amqp://localhost',
        RABBITMQ_GLOBAL_ENABLED: 'true',
        RABBITMQ_EVENTS_NEW_JWT_TOKEN: 'true',
      },
      cwd,
    );
    assert.deepEqual([...config.webhook.globalEvents], ['MESSAGES_UPSERT']);
    assert.equal(config.warnings.length, 1, config.warnings.join('; '));
    assert.match(config.warnings[0] ?? '', /^WEBHOOK_EVENTS_NEW_JWT_TOKEN, WEBHOOK_EVENTS_CHAMA_AI_ACTION, RABBITMQ_EVENTS_NEW_JWT_TOKEN name no event Pombo has; ignored/);
    assert.deepEqual(load({}, cwd).warnings, []);
  });

  test('the warnings are logged once, at boot', async (t) => {
    const cwd = tempDir(t);
    let output = '';
    const sink = new Writable({
      write(chunk, _encoding, done) {
        output += chunk;
        done();
      },
    });
    const config = load({ WEBHOOK_EVENTS_NEW_JWT_TOKEN: 'true', WEBHOOK_EVENTS_CHAMA_AI_ACTION: 'true' }, cwd);
    const pombo = await createPombo(config, createLogger('info', sink));
    await pombo.close();
    const warnings = output
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .filter((line) => line.level === 40);
    assert.deepEqual(warnings.map((line) => line.msg), [config.warnings[0]]);
    assert.match(warnings[0]?.msg ?? '', /WEBHOOK_EVENTS_NEW_JWT_TOKEN, WEBHOOK_EVENTS_CHAMA_AI_ACTION name no event/);
  });

  test('WEBHOOK_EVENTS_ERRORS_WEBHOOK is read only when WEBHOOK_EVENTS_ERRORS=true (Evolution v1 sets both to false)', (t) => {
    const cwd = tempDir(t);
    const off = load({ WEBHOOK_EVENTS_ERRORS: 'false', WEBHOOK_EVENTS_ERRORS_WEBHOOK: 'false' }, cwd);
    assert.equal(off.webhook.errorsUrl, undefined);
    assert.deepEqual(off.warnings, []);
    assert.match(problemsOf({ WEBHOOK_EVENTS_ERRORS: 'true', WEBHOOK_EVENTS_ERRORS_WEBHOOK: 'false' }, cwd)[0] ?? '', /WEBHOOK_EVENTS_ERRORS_WEBHOOK="false" must be a URL/);
  });

  test('the explicit toggle of an event wins over an alias of it', (t) => {
    const cwd = tempDir(t);
    const config = load({ WEBHOOK_EVENTS_GROUP_UPDATE: 'true', WEBHOOK_EVENTS_GROUPS_UPDATE: 'false', WEBHOOK_EVENTS_QRCODE_UPDATED: 'true' }, cwd);
    assert.deepEqual([...config.webhook.globalEvents], ['QRCODE_UPDATED']);
  });

  test('WEBHOOK_EVENTS_STATUS_INSTANCE selects status.instance, not connection.update', (t) => {
    const cwd = tempDir(t);
    const config = load({ WEBHOOK_EVENTS_STATUS_INSTANCE: 'true', WEBHOOK_EVENTS_QRCODE_UPDATED: 'true' }, cwd);
    assert.deepEqual([...config.webhook.globalEvents], ['QRCODE_UPDATED', 'STATUS_INSTANCE']);
    assert.deepEqual(config.warnings, []);
  });
});

/** Runs `npm start`'s command in `cwd` with only `env` and waits for it to exit. */
/** Runs Pombo until it exits; one still running after `timeoutMs` (it was meant to stop) is killed, with code null. */
async function runToExit(
  cwd: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
  uid?: number,
  runUnder: readonly string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [command = process.execPath, ...args] = [...runUnder, process.execPath, '--import', import.meta.resolve('tsx'), MAIN];
  const child = spawn(command, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(uid === undefined ? {} : { uid, gid: uid }),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/**
 * The first words of a command that runs the rest in a mount namespace of its own where `target` is
 * `source` bound read-only, as a `:ro` file mount or a Kubernetes secret's subPath shows it.
 */
const withReadOnlyMount = (source: string, target: string): string[] => [
  'unshare',
  '--mount',
  'sh',
  '-c',
  'mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" && shift 2 && exec "$@"',
  'sh',
  source,
  target,
];

/** Whether this process may make mounts of its own (root, with unshare): withReadOnlyMount works. */
const canMount = (): boolean => process.getuid?.() === 0 && spawnSync('unshare', ['--mount', 'true']).status === 0;

describe('npm start', () => {
  test('a malformed variable: the process exits non-zero and its stderr names the variable', async (t) => {
    const cwd = tempDir(t);
    const { code, stderr } = await runToExit(cwd, { LOG_LEVEL: 'shout', SERVER_PORT: 'abc' });
    assert.notEqual(code, 0);
    assert.match(stderr, /SERVER_PORT="abc"/);
    assert.match(stderr, /LOG_LEVEL="shout"/);
    assert.match(stderr, /docs\/configuration\.md/);
    assert.doesNotMatch(stderr, /\bat .+\.ts:\d+/, 'no stack trace');
    assert.ok(!existsSync(join(cwd, 'data')));
  });

  test('a DATA_DIR Pombo cannot use: exit 78, a message naming DATA_DIR and what is wrong, no raw system error', async (t) => {
    const cwd = tempDir(t);
    writeFileSync(join(cwd, 'not-a-folder'), '');
    const { code, stderr } = await runToExit(cwd, { DATA_DIR: join(cwd, 'not-a-folder', 'data') });
    assert.equal(code, 78, stderr);
    assert.match(stderr, /DATA_DIR: the folder .*not-a-folder\/data cannot be created \(ENOTDIR\): create it for the user Pombo runs as \(uid \d+\), or choose another folder\n/);
    assert.doesNotMatch(stderr, /operation not permitted|not a directory, mkdir|\bat .+\.ts:\d+/, 'no raw system error, no stack trace');
  });

  test('a folder where DATA_DIR holds a file (the API key, the SQLite database): exit 78 naming DATA_DIR and the file, no raw system error', async (t) => {
    for (const [file, env] of [
      ['api-key', {}],
      ['pombo.db', { AUTHENTICATION_API_KEY: 'k' }],
    ] as const) {
      const cwd = tempDir(t);
      mkdirSync(join(cwd, 'data', file), { recursive: true });
      const { code, stderr } = await runToExit(cwd, { ...env, SERVER_PORT: String(await freePort()) });
      assert.equal(code, 78, `${file}: ${stderr}`);
      assert.match(stderr, new RegExp(`^Invalid configuration:\\n  - DATA_DIR: the file ${join(cwd, 'data', file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a file`), file);
      assert.doesNotMatch(stderr, /EISDIR|unable to open database file|\bat .+:\d+:\d+/, `${file}: no raw system error, no stack trace`);
    }
  });

  test("a file of another user in DATA_DIR (a volume once used by root): exit 78 naming DATA_DIR, the file and what to do", async (t) => {
    // Only root can make a file another user owns: the test runs Pombo as nobody (65534) in a folder nobody may write.
    if (process.getuid?.() !== 0) return t.skip('needs root, to give the file to another user than the one Pombo runs as');
    const NOBODY = 65534;
    for (const [file, env] of [
      ['api-key', {}],
      ['pombo.db', { AUTHENTICATION_API_KEY: 'k' }],
    ] as const) {
      const cwd = tempDir(t);
      chmodSync(cwd, 0o755);
      const data = join(cwd, 'data');
      mkdirSync(data, { mode: 0o700 });
      chownSync(data, NOBODY, NOBODY);
      writeFileSync(join(data, file), file === 'api-key' ? 'root-key\n' : '', { mode: 0o600 });
      const { code, stderr } = await runToExit(cwd, { ...env, SERVER_PORT: String(await freePort()) }, 60_000, NOBODY);
      assert.equal(code, 78, `${file}: ${stderr}`);
      assert.match(stderr, new RegExp(`^Invalid configuration:\\n  - DATA_DIR: the file ${join(data, file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} belongs to another user.*give it to the user Pombo runs as \\(uid ${NOBODY}\\)`), file);
      assert.doesNotMatch(stderr, /operation not permitted|\bat .+:\d+:\d+/, `${file}: no raw system error, no stack trace`);
    }
  });

  test("a -wal or -shm file of another user beside the SQLite log (left by a start as root): exit 78 naming DATA_DIR and the file, not SQLite's 'unable to open database file'", async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root, to give the file to another user than the one Pombo runs as');
    const NOBODY = 65534;
    for (const leftover of ['pombo.db-wal', 'pombo.db-shm']) {
      const cwd = tempDir(t);
      chmodSync(cwd, 0o755);
      const data = join(cwd, 'data');
      mkdirSync(data, { mode: 0o700 });
      chownSync(data, NOBODY, NOBODY);
      // A log in WAL mode, Pombo's own; the file beside it root's, as a start as root leaves it.
      const db = new Database(join(data, 'pombo.db'));
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE written_before (x)');
      db.close();
      chownSync(join(data, 'pombo.db'), NOBODY, NOBODY);
      writeFileSync(join(data, leftover), '', { mode: 0o600 });
      const { code, stderr } = await runToExit(cwd, { AUTHENTICATION_API_KEY: 'k', SERVER_PORT: String(await freePort()) }, 60_000, NOBODY);
      assert.equal(code, 78, `${leftover}: ${stderr}`);
      assert.match(stderr, new RegExp(`^Invalid configuration:\\n  - DATA_DIR: the file ${join(data, leftover).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} belongs to another user`), leftover);
      assert.doesNotMatch(stderr, /unable to open database file|\bat .+:\d+:\d+/, `${leftover}: no raw SQLite error, no stack trace`);
    }
  });

  test('an api-key file on a read-only mount (a :ro bind, a Kubernetes secret): used as it is when private; refused when others may read it, saying the mount is read-only and to change the mode at its source', async (t) => {
    if (!canMount()) return t.skip('needs root and unshare, to mount the file read-only');
    for (const mode of [0o600, 0o400, 0o644]) {
      const cwd = tempDir(t);
      const source = join(cwd, 'secret-api-key');
      writeFileSync(source, 'mounted-key\n', { mode });
      chmodSync(source, mode);
      const file = join(cwd, 'data', 'api-key');
      mkdirSync(join(cwd, 'data'), { mode: 0o700 });
      writeFileSync(file, '', { mode: 0o600 });
      const runUnder = withReadOnlyMount(source, file);
      if (mode & 0o077) {
        const { code, stderr } = await runToExit(cwd, { SERVER_PORT: String(await freePort()) }, 60_000, undefined, runUnder);
        assert.equal(code, 78, stderr);
        const named = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        assert.match(stderr, new RegExp(`^Invalid configuration:\\n  - DATA_DIR: the file ${named} is on a read-only mount \\(EROFS\\).*\\(mode 644\\): make it 600 or 400 at the source of the mount`));
        assert.doesNotMatch(stderr, /give it to the user Pombo runs as|\bat .+:\d+:\d+/, 'no advice about ownership, no stack trace');
        continue;
      }
      const pombo = await spawnPombo({}, await freePort(), { cwd, cleanEnv: true, runUnder });
      try {
        const list = await fetch(`${pombo.url}/instance/fetchInstances`, { headers: { apikey: 'mounted-key' } });
        assert.equal(list.status, 200, `mode ${mode.toString(8)}: the key of the mounted file opens the API`);
      } finally {
        await pombo.kill();
      }
    }
  });

  test('a port already in use: exit 78, one line naming SERVER_PORT, its value and what to do; the generated key was still shown', async (t) => {
    const cwd = tempDir(t);
    const port = await freePort();
    const taken = createServer().listen(port);
    await once(taken, 'listening');
    t.after(() => taken.close());
    const { code, stdout, stderr } = await runToExit(cwd, { SERVER_PORT: String(port) });
    assert.equal(code, 78, stderr);
    assert.match(stderr, new RegExp(`^Invalid configuration:\n  - SERVER_PORT=${port}: the port is already in use .*choose another SERVER_PORT\n`));
    assert.doesNotMatch(stderr, /EADDRINUSE|\bat .+:\d+:\d+/, 'no raw system error, no stack trace');
    assert.ok(stdout.includes(readFileSync(join(cwd, 'data', 'api-key'), 'utf8').trim()), 'the key is shown before anything can fail');
  });

  test('a SERVER_HOST this machine has not, or that does not resolve: exit 78, one line naming SERVER_HOST and its value', async (t) => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): no machine has it; `.invalid` never resolves (RFC 2606).
    for (const host of ['192.0.2.1', 'pombo.invalid']) {
      const cwd = tempDir(t);
      const { code, stderr } = await runToExit(cwd, { SERVER_HOST: host, SERVER_PORT: String(await freePort()), AUTHENTICATION_API_KEY: 'k' });
      assert.equal(code, 78, `${host}: ${stderr}`);
      assert.match(stderr, new RegExp(`^Invalid configuration:\n  - SERVER_HOST=${host.replace(/\./g, '\\.')}: .*127\.0\.0\.1 for local clients only\n`), host);
      assert.doesNotMatch(stderr, /EADDRNOTAVAIL|ENOTFOUND|EAI_AGAIN|\bat .+:\d+:\d+/, `${host}: no raw system error, no stack trace`);
    }
  });

  test('a second Pombo on the same SQLite DATA_DIR exits 78 naming it; after kill -9 of the first, a new start runs', async (t) => {
    const cwd = tempDir(t);
    const dataDir = join(cwd, 'shared-data');
    const env = { DATA_DIR: dataDir, AUTHENTICATION_API_KEY: 'k' };
    const first = await spawnPombo(env, await freePort(), { cwd });
    let firstKilled = false;
    t.after(() => (firstKilled ? undefined : first.kill()));
    const second = await runToExit(cwd, { ...env, SERVER_PORT: String(await freePort()) }, 15_000);
    assert.equal(second.code, 78, second.stderr);
    assert.match(second.stderr, new RegExp(`DATA_DIR: another Pombo uses ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.doesNotMatch(second.stderr, /\bat .+\.ts:\d+/, 'no stack trace');
    assert.equal((await fetch(`${first.url}/health`)).status, 200, 'the first goes on');
    await first.kill();
    firstKilled = true;
    // The lock died with the process: nothing to clean up before the restart.
    const restarted = await spawnPombo(env, await freePort(), { cwd });
    await restarted.kill();
  });

  test('a start that fails after taking the SQLite lock (a folder where pombo.db goes, a pombo.db that is no database, a port in use) lets go of it: the next start on that DATA_DIR runs in another process (and in this one)', async (t) => {
    const port = await freePort();
    const taken = createServer().listen(port);
    await once(taken, 'listening');
    t.after(() => taken.close());
    // What spoils the folder, then the start that fails on it; the folder is made usable again after.
    const failures: Array<[string, (data: string) => void, (config: ReturnType<typeof loadConfig>) => Promise<unknown>]> = [
      ['a folder where pombo.db goes', (data) => mkdirSync(join(data, 'pombo.db')), (config) => createPombo(config, createLogger('silent'))],
      ['a pombo.db that is no database', (data) => writeFileSync(join(data, 'pombo.db'), 'not SQLite'.repeat(100), { mode: 0o600 }), (config) => createPombo(config, createLogger('silent'))],
      [
        'a port in use',
        () => undefined,
        async (config) => {
          // As main.ts does: the listen fails, Pombo is closed before the exit.
          const pombo = await createPombo(config, createLogger('silent'));
          await pombo.listen(port).catch(async (error: unknown) => {
            await pombo.close();
            throw error;
          });
        },
      ],
    ];
    for (const [what, spoil, failingStart] of failures) {
      const cwd = tempDir(t);
      const data = join(cwd, 'data');
      mkdirSync(data, { mode: 0o700 });
      spoil(data);
      const config = loadConfig({ AUTHENTICATION_API_KEY: 'k', LOG_LEVEL: 'error' }, cwd);
      await assert.rejects(failingStart(config), Error, what);
      rmSync(join(data, 'pombo.db'), { recursive: true, force: true });
      // In this process the lock is counted per process (exclusive-lock.ts), so this start shows the
      // process can start Pombo again; the other process's start is what shows the lock was let go.
      const again = await createPombo(config, createLogger('silent'));
      await again.close();
      const other = await spawnPombo({ AUTHENTICATION_API_KEY: 'k' }, await freePort(), { cwd }).catch((error: Error) => assert.fail(`${what}: ${error.message}`));
      await other.kill();
    }
  });

  test('with no configuration it starts on SQLite in ./data and prints the generated key once', async (t) => {
    const cwd = tempDir(t);
    const port = await freePort();
    const first = await spawnPombo({}, port, { cwd, cleanEnv: true });
    let key: string;
    try {
      key = readFileSync(join(cwd, 'data', 'api-key'), 'utf8').trim();
      assert.ok(existsSync(join(cwd, 'data', 'pombo.db')));
      assert.ok(first.stdout().includes(key), 'the key is printed at first start');
      const health = await fetch(`${first.url}/health`);
      assert.deepEqual(await health.json(), { status: 'ok', store: 'sqlite' });
      const created = await fetch(`${first.url}/instance/create`, {
        method: 'POST',
        headers: { apikey: key, 'content-type': 'application/json' },
        body: JSON.stringify({ instanceName: 'alice', qrcode: true }),
      });
      assert.equal(created.status, 201, 'the printed key is the global key, and the sandbox is ready');
    } finally {
      await first.kill();
    }
    const second = await spawnPombo({}, port, { cwd, cleanEnv: true });
    try {
      assert.ok(!second.stdout().includes(key), 'the key is not printed again');
      const list = await fetch(`${second.url}/instance/fetchInstances`, { headers: { apikey: key } });
      assert.deepEqual(((await list.json()) as Array<{ name: string }>).map((i) => i.name), ['alice'], 'same key, same data');
    } finally {
      await second.kill();
    }
  });
});
