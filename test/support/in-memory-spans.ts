import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach } from 'vitest';

/**
 * Registers one global tracer provider for the calling test file (the SDK uses the global tracer)
 * that keeps every ended span in memory; the spans are cleared after each test and the provider
 * shut down after the file.
 */
export function useInMemorySpans(): InMemorySpanExporter {
  const exporter = new InMemorySpanExporter();
  const sdk = new NodeSDK({
    autoDetectResources: false,
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  afterAll(async () => {
    await sdk.shutdown();
  });
  afterEach(() => {
    exporter.reset();
  });
  return exporter;
}
