#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { loadConfig, ROLES, type ConfigOverrides, type Role } from '../config/index.ts';
import { HeadroomError } from '../errors/index.ts';
import { createStore } from '../store/index.ts';
import { runDemo } from '../demo/index.ts';
import { startService } from './service.ts';

const HELP = `headroom: forecasts when each API key and shared quota will run out, alerts in Slack, steers gateways.

Usage:
  headroom serve [--role all|ingest|analytics] [--host H] [--port P] [--data-dir D]
      Runs the service: OTLP/HTTP ingest on POST /v1/traces, the HTTP API and the analytics cycle.
  headroom migrate [--data-dir D]
      Applies pending ClickHouse migrations and exits (serve also applies them at start).
  headroom demo
      Shows the whole loop in about a minute on a temporary data directory: traffic through the
      OpenTelemetry SDK, forecasts, a Slack alert (to a local Slack API endpoint) and rebalance advice.
  headroom --help

Configuration comes from the environment (HEADROOM_*, see README.md); flags override it.
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      role: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
    },
  });
  const command = positionals[0];
  if (values.help === true || command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined && values.help !== true ? 1 : 0;
  }

  const env: Record<string, string | undefined> = { ...process.env };
  if (values.role !== undefined) env['HEADROOM_ROLE'] = values.role;
  if (values.host !== undefined) env['HEADROOM_HOST'] = values.host;
  if (values.port !== undefined) env['HEADROOM_PORT'] = values.port;
  if (values['data-dir'] !== undefined) env['HEADROOM_DATA_DIR'] = values['data-dir'];
  const overrides: ConfigOverrides = {};
  if (values.role !== undefined && !(ROLES as readonly string[]).includes(values.role)) {
    throw new HeadroomError(
      'HEADROOM_ERR_CONFIG',
      `--role ${values.role} is invalid: expected one of ${ROLES.join(', ')}`,
    );
  }
  const config = loadConfig({
    env,
    overrides: { ...overrides, ...(values.role ? { role: values.role as Role } : {}) },
  });

  switch (command) {
    case 'serve':
      return serve(config);
    case 'demo':
      await runDemo({
        loadConfig: (demoEnv) => loadConfig({ env: { ...env, ...demoEnv } }),
        startService: (demoConfig) => startService(demoConfig, { scheduleAnalytics: false }),
      });
      return 0;
    case 'migrate': {
      const store = createStore(config);
      try {
        const report = await store.migrate();
        process.stdout.write(
          `applied ${report.applied.length} migration(s)${report.applied.length > 0 ? ': ' + report.applied.join(', ') : ''}; ` +
            `${report.alreadyApplied.length} already applied\n`,
        );
      } finally {
        await store.close();
      }
      return 0;
    }
    default:
      process.stderr.write(`unknown command ${JSON.stringify(command)}\n\n${HELP}`);
      return 1;
  }
}

async function serve(config: ReturnType<typeof loadConfig>): Promise<number> {
  // Signals are handled from the first moment: one that arrives while the service is still starting
  // (it answers /healthz before the analytics role has restored its state) shuts it down once started.
  let stopRequested: NodeJS.Signals | undefined;
  let stopNow: ((signal: NodeJS.Signals) => void) | undefined;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`headroom: ${signal} again: exiting without waiting\n`);
      process.exit(1);
    }
    if (stopNow === undefined) stopRequested = signal;
    else stopNow(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const service = await startService(config);
  service.app.log.info(
    {
      url: service.url,
      role: config.role,
      clickhouse: service.store.mode === 'embedded' ? config.dataDir : 'server',
    },
    'headroom listening',
  );
  return new Promise<number>((resolve) => {
    stopNow = (signal) => {
      service.app.log.info(`${signal}: shutting down, committing pending batches`);
      service.close().then(
        () => resolve(0),
        (error: unknown) => {
          service.app.log.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    if (stopRequested !== undefined) stopNow(stopRequested);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof HeadroomError ? `${error.code}: ` : '';
    process.stderr.write(`headroom: ${code}${message}\n`);
    process.exit(error instanceof HeadroomError && error.code === 'HEADROOM_ERR_CONFIG' ? 2 : 1);
  },
);
