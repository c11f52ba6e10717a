import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { createSimulator, loadScenarioFile, startSimulatorServer } from '../simulator/index.ts';

export const SIMULATE_PROVIDER_USAGE = `  headroom simulate-provider --scenario FILE.(yaml|json) [--port P] [--host H] [--seed N] [--speed X]
      Answers like OpenAI, Anthropic, Azure OpenAI and Gemini on loopback from a seeded scenario
      (default 127.0.0.1:8089); GET /sim/state and /sim/stats show what every key has left.
`;

const DEFAULT_PORT = 8089;

function readNumber(
  name: string,
  text: string | undefined,
  check: (value: number) => boolean,
  expected: string,
) {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !check(value)) {
    throw new HeadroomError(ErrorCode.config, `--${name} ${text} is invalid: expected ${expected}`);
  }
  return value;
}

/** The flags of `headroom simulate-provider`, as given. */
export interface SimulateProviderFlags {
  scenario: string | undefined;
  host: string | undefined;
  port: string | undefined;
  seed: string | undefined;
  speed: string | undefined;
}

/** `headroom simulate-provider`: serves a scenario until SIGINT or SIGTERM. */
export async function runSimulateProvider(values: SimulateProviderFlags): Promise<number> {
  if (values.scenario === undefined) {
    throw new HeadroomError(ErrorCode.config, '--scenario is required: a .yaml or .json scenario file');
  }
  const port = readNumber(
    'port',
    values.port,
    (v) => Number.isInteger(v) && v >= 0 && v <= 65_535,
    'a port 0-65535',
  );
  const seed = readNumber('seed', values.seed, Number.isSafeInteger, 'an integer');
  const speed = readNumber('speed', values.speed, (v) => Number.isFinite(v) && v > 0, 'a positive number');
  const scenario = loadScenarioFile(values.scenario);
  const simulator = createSimulator(scenario, {
    // Without start_at the simulation runs on the wall clock from now.
    startMs: scenario.start_at === undefined ? Date.now() : Date.parse(scenario.start_at),
    ...(seed === undefined ? {} : { seed }),
  });
  const server = await startSimulatorServer(simulator, {
    host: values.host ?? '127.0.0.1',
    port: port ?? DEFAULT_PORT,
    speed: speed ?? scenario.speed,
  });
  process.stdout.write(
    `provider simulator listening on ${server.url} (${scenario.keys.length} keys, ${scenario.quotas.length} shared quotas, ` +
      `${scenario.consumers.length} background consumers; GET ${server.url}/sim/state)\n`,
  );
  return new Promise<number>((resolve) => {
    const stop = (): void => {
      server.close().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
