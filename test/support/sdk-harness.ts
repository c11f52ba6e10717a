import { afterAll, beforeAll } from 'vitest';
import { startTelemetry, type Telemetry } from '../../src/sdk/index.ts';
import {
  startFakeProvider,
  startOtlpRecorder,
  type FakeProvider,
  type OtlpRecorder,
} from './fake-provider.ts';
import { startTestService } from './service.ts';

export interface SdkHarness {
  service: Awaited<ReturnType<typeof startTestService>>;
  fake: FakeProvider;
  recorder: OtlpRecorder;
  telemetry: Telemetry;
}

/**
 * For an SDK integration suite: headroom on a real port, a local provider, a recorder of every OTLP
 * request in front of headroom, and the SDK's telemetry exporting to it. Started before the suite's
 * tests and stopped after them; the fields are set once the suite starts.
 */
export function useSdkHarness(serviceInstanceId: string): SdkHarness {
  const harness = {} as SdkHarness;
  beforeAll(async () => {
    harness.service = await startTestService();
    harness.fake = await startFakeProvider();
    harness.recorder = await startOtlpRecorder(`${harness.service.url}/v1/traces`);
    harness.telemetry = startTelemetry({
      endpoint: harness.recorder.url,
      serviceName: 'sdk-it',
      serviceInstanceId,
    });
  });
  afterAll(async () => {
    await harness.telemetry?.shutdown();
    await harness.recorder?.close();
    await harness.fake?.close();
    await harness.service?.cleanup();
  });
  return harness;
}
