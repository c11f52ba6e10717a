#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { loadConfig, ROLES, type Config } from '../config/index.ts';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { fetchKeys, formatKeyTable } from '../status/index.ts';
import { parseCommandLine, type OptionSpec } from './args.ts';
import { runGateway } from './gateway.ts';
import { runSilenceCommand } from './silence.ts';
import { runSimulateProvider, SIMULATE_PROVIDER_USAGE } from './simulate-provider.ts';

// The store (embedded ClickHouse), the service and the demo are loaded by the commands that use
// them, so that `headroom gateway` does not carry their memory.
const USAGE = `headroom: forecasts when each API key and shared quota will run out, alerts in Slack, steers gateways.

Usage:
  headroom serve [--config FILE] [--role all|ingest|analytics] [--host H] [--port P] [--data-dir D]
      Runs the service: OTLP/HTTP ingest on POST /v1/traces, the HTTP API and the analytics cycle.
  headroom status [--pool P] [--json] [--url URL]
      Prints every key's quotas, forecasts and advice from a running headroom (default URL from
      HEADROOM_HOST and HEADROOM_PORT; HEADROOM_ADMIN_TOKEN is sent when set).
  headroom migrate [--data-dir D]
      Applies pending ClickHouse migrations and exits (serve also applies them at start).
  headroom demo
      Shows the whole loop in about a minute on a temporary data directory: traffic through the
      OpenTelemetry SDK, forecasts, a Slack alert (to a local Slack API endpoint) and rebalance advice.
${SIMULATE_PROVIDER_USAGE}  headroom silence add|ls|expire
      Silences of the running service, like amtool's (headroom silence --help).
  headroom gateway --config FILE [--port P]
      Runs the reference gateway: an OpenAI-compatible proxy over the key pools of FILE that
      follows headroom's advice (README.md, "Reference gateway").
  headroom --version
  headroom --help

Configuration comes from the environment (HEADROOM_*, see README.md); flags override it.
`;

const COMMANDS = ['serve', 'status', 'migrate', 'demo', 'simulate-provider', 'gateway', 'help'] as const;

const OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', commands: 'all' },
  version: { type: 'boolean', short: 'v', commands: 'all' },
  config: { type: 'string', commands: ['serve', 'gateway'] },
  role: { type: 'string', commands: ['serve'] },
  host: { type: 'string', commands: ['serve', 'simulate-provider'] },
  port: { type: 'string', commands: ['serve', 'simulate-provider', 'gateway'] },
  'data-dir': { type: 'string', commands: ['serve', 'migrate'] },
  pool: { type: 'string', commands: ['status'] },
  json: { type: 'boolean', commands: ['status'] },
  url: { type: 'string', commands: ['status'] },
  scenario: { type: 'string', commands: ['simulate-provider'] },
  seed: { type: 'string', commands: ['simulate-provider'] },
  speed: { type: 'string', commands: ['simulate-provider'] },
};

/** Exit code of a command line that could not be understood, as getopt-style tools use. */
const EXIT_USAGE = 2;

function readVersion(): string {
  // src/cli/main.ts and dist/cli/main.js both sit two levels below package.json.
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

async function main(argv: string[]): Promise<number> {
  // silence has options of its own (amtool's), parsed by its module.
  if (argv[0] === 'silence') {
    const config = loadConfig();
    return runSilenceCommand(argv.slice(1), config, serviceUrl(config));
  }
  const parsed = parseCommandLine(argv, COMMANDS, OPTIONS);
  if (parsed.kind === 'usage') {
    process.stderr.write(`headroom: ${parsed.message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  const { command, values } = parsed;
  const text = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  if (values['version'] === true) {
    process.stdout.write(`headroom ${readVersion()}\n`);
    return 0;
  }
  if (values['help'] === true || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && values['help'] !== true ? EXIT_USAGE : 0;
  }

  if (command === 'simulate-provider') {
    return runSimulateProvider({
      scenario: text('scenario'),
      host: text('host'),
      port: text('port'),
      seed: text('seed'),
      speed: text('speed'),
    });
  }

  if (command === 'gateway') return runGateway(text('config'), text('port'));

  const role = text('role');
  if (role !== undefined && !(ROLES as readonly string[]).includes(role)) {
    throw new HeadroomError(
      ErrorCode.config,
      `--role ${role} is invalid: expected one of ${ROLES.join(', ')}`,
    );
  }
  const env: Record<string, string | undefined> = { ...process.env };
  const flagToEnv: Array<[string, string]> = [
    ['config', 'HEADROOM_CONFIG'],
    ['role', 'HEADROOM_ROLE'],
    ['host', 'HEADROOM_HOST'],
    ['port', 'HEADROOM_PORT'],
    ['data-dir', 'HEADROOM_DATA_DIR'],
  ];
  for (const [flag, key] of flagToEnv) {
    const value = text(flag);
    if (value !== undefined) env[key] = value;
  }
  const config = loadConfig({ env });

  switch (command) {
    case 'serve':
      return serve(config);
    case 'status':
      return status(config, { pool: text('pool'), json: values['json'] === true, url: text('url') });
    case 'demo': {
      const [{ runDemo }, { startService }] = await Promise.all([
        import('../demo/index.ts'),
        import('./service.ts'),
      ]);
      await runDemo({
        loadConfig: (demoEnv) => loadConfig({ env: { ...env, ...demoEnv } }),
        startService: (demoConfig) => startService(demoConfig, { scheduleAnalytics: false }),
      });
      return 0;
    }
    case 'migrate': {
      const { createStore } = await import('../store/index.ts');
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
      // parseCommandLine accepts only COMMANDS; help was answered above.
      return EXIT_USAGE;
  }
}

/** The address a local client reaches the configured listener at (a wildcard bind is reached on loopback). */
function serviceUrl(config: Config): string {
  const host =
    config.host === '0.0.0.0'
      ? '127.0.0.1'
      : config.host === '::' || config.host === '[::]'
        ? '[::1]'
        : config.host;
  const bracketed = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${bracketed}:${config.port}`;
}

async function status(
  config: Config,
  options: { pool: string | undefined; json: boolean; url: string | undefined },
): Promise<number> {
  const url = options.url ?? serviceUrl(config);
  const view = await fetchKeys(url, {
    ...(options.pool === undefined ? {} : { pool: options.pool }),
    ...(config.adminToken === undefined ? {} : { adminToken: config.adminToken }),
  });
  if (options.json) {
    process.stdout.write(JSON.stringify(view, null, 2) + '\n');
    return 0;
  }
  if (view.keys.length === 0) {
    process.stdout.write(
      options.pool === undefined
        ? `no keys yet at ${url}: none configured and no spans received\n`
        : `no keys in pool "${options.pool}" at ${url}\n`,
    );
    return 0;
  }
  process.stdout.write(`keys at ${url}, as of ${view.evaluated_at ?? 'the first cycle'}\n`);
  for (const line of formatKeyTable(view)) process.stdout.write(line + '\n');
  return 0;
}

async function serve(config: Config): Promise<number> {
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

  const { startService } = await import('./service.ts');
  const service = await startService(config);
  service.app.log.info({ url: service.url, role: config.role }, 'headroom listening');
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
