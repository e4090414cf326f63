import { ConfigError, loadConfig } from './config/index.ts';
import { listenProblem } from './http/listen-error.ts';
import { createLogger } from './ops/logger.ts';
import { createPombo, SHUTDOWN_DEADLINE_MS } from './pombo.ts';

/** Stops the start with the list of bad variables (no stack trace): parsed at boot, by the config or by a channel. */
function exitOnConfigError(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\nSee docs/configuration.md for every variable and its default.\n`);
  process.exit(78);
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    exitOnConfigError(error);
  }
  // Shown as soon as it exists: a start that fails further on must not swallow the only showing.
  if (config.auth.apiKeyGenerated) {
    process.stdout.write(
      `\nA global API key was generated and saved in ${config.dataDir}/api-key (shown once):\n\n    ${config.auth.apiKey}\n\nSend it as the "apikey" header.\n\n`,
    );
  }
  const log = createLogger(config.logLevel);
  const pombo = await createPombo(config, log).catch(exitOnConfigError);
  const address = await pombo.listen().catch(async (error: unknown) => {
    const problem = listenProblem(error, config.server);
    if (!problem) throw error;
    // What the dispatcher delivered meanwhile is saved, so a restart does not send it again.
    await pombo.close().catch(() => undefined);
    return exitOnConfigError(new ConfigError([problem]));
  });
  log.info({ address, store: config.database.provider }, 'Pombo is listening');
  let closingSince: number | undefined;
  const shutdown = async (signal: string) => {
    if (closingSince !== undefined) {
      // An operator who asks twice does not want to wait: what was not saved is delivered again after the restart.
      log.warn({ signal, elapsedMs: Date.now() - closingSince }, 'second signal: exiting at once');
      process.exit(130);
    }
    closingSince = Date.now();
    log.info({ signal, graceMs: SHUTDOWN_DEADLINE_MS }, 'shutting down: flushing deliveries in flight');
    const deadline = setTimeout(() => {
      log.error({ elapsedMs: Date.now() - (closingSince ?? 0) }, 'shutdown took too long: exiting without waiting further');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    await pombo.close();
    log.info({ signal, elapsedMs: Date.now() - closingSince }, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`Pombo could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
