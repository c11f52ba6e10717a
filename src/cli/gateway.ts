import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { loadGatewayConfig } from '../config/index.ts';
import { startGateway } from '../gateway/index.ts';
import { startTelemetry, type Telemetry } from '../sdk/index.ts';

/** `headroom gateway --config FILE [--port P]`: runs until SIGTERM / SIGINT, then drains. */
export async function runGateway(
  configPath: string | undefined,
  portText: string | undefined,
): Promise<number> {
  if (configPath === undefined) {
    throw new HeadroomError(
      ErrorCode.config,
      '--config is missing: expected the gateway configuration file (YAML or JSON)',
    );
  }
  if (portText !== undefined && (!/^\d+$/.test(portText) || Number(portText) > 65_535)) {
    throw new HeadroomError(
      ErrorCode.config,
      `--port ${portText} is invalid: expected a whole number from 0 to 65535`,
    );
  }
  const config = loadGatewayConfig({
    path: configPath,
    env: process.env,
    ...(portText === undefined ? {} : { port: Number(portText) }),
  });
  let telemetry: Telemetry | undefined;
  if (config.headroom?.spans === true) {
    telemetry = startTelemetry({
      endpoint: `${config.headroom.url}/v1/traces`,
      serviceName: 'headroom-gateway',
      // Small, frequent batches: encoding one blocks the event loop that is proxying calls.
      maxExportBatchSize: 64,
      scheduledDelayMillis: 200,
      ...(config.nodeId === undefined ? {} : { serviceInstanceId: config.nodeId }),
      ...(config.headroom.ingestToken === undefined
        ? {}
        : { headers: { authorization: `Bearer ${config.headroom.ingestToken}` } }),
    });
  }
  const gateway = await startGateway(config);
  process.stdout.write(
    `headroom gateway listening on ${gateway.url} (pools: ${config.pools.map((p) => `${p.name}/${p.strategy}`).join(', ')})\n`,
  );
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.stdout.write(`${signal}: draining calls in flight\n`);
      gateway
        .close()
        .then(() => telemetry?.shutdown())
        .then(
          () => resolve(0),
          () => resolve(1),
        );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
