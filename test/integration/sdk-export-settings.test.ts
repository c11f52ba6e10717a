import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordApiCall, startTelemetry } from '../../src/sdk/index.ts';
import { freePort, startTestService } from '../support/service.ts';

// startTelemetry configured the standard OpenTelemetry way (environment), exporting to headroom and
// to local receivers on real ports, and what an app sees when nobody answers. Each test starts and
// shuts down its own telemetry: shutdown releases the OpenTelemetry globals for the next one.

const TOKEN = 'ingest-token-for-env-test';

interface Received {
  url: string;
  headers: IncomingHttpHeaders;
}

/** An OTLP receiver that records each request and answers `status`, or never answers (null). */
async function startReceiver(
  status: number | null,
): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.push({ url: req.url ?? '', headers: req.headers });
      if (status === null) return;
      res.writeHead(status, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function recordCalls(pool: string, count: number): void {
  for (let i = 0; i < count; i++) {
    recordApiCall({
      pool,
      keyId: `key-${i % 3}`,
      provider: 'openai',
      requestModel: 'gpt-4o-mini',
      statusCode: 200,
    });
  }
}

describe('startTelemetry configured through the standard environment', () => {
  let service: Awaited<ReturnType<typeof startTestService>>;

  beforeAll(async () => {
    service = await startTestService({}, { HEADROOM_INGEST_TOKENS: TOKEN });
  });

  afterAll(async () => {
    await service?.cleanup();
  });

  it('exports to OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces with OTEL_EXPORTER_OTLP_HEADERS: headroom stores the spans', async () => {
    const warnings: string[] = [];
    const telemetry = startTelemetry({
      serviceName: 'env-app',
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: service.url,
        OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${TOKEN}`,
      },
      warn: (line) => warnings.push(line),
    });
    recordCalls('pool-env', 3);
    await telemetry.shutdown();
    const rows = await service.store.queryRows<{ calls: string }>(
      `SELECT toString(count()) AS calls FROM ${service.store.database}.api_calls WHERE pool = 'pool-env' AND service_name = 'env-app'`,
    );
    expect(rows).toEqual([{ calls: '3' }]);
    expect(warnings).toEqual([]);
  });

  it('reports a refused token once, naming the status and what to check, and stores nothing', async () => {
    const warnings: string[] = [];
    const telemetry = startTelemetry({
      serviceName: 'env-app',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: `${service.url}/` },
      warn: (line) => warnings.push(line),
    });
    recordCalls('pool-no-token', 2);
    await telemetry.forceFlush();
    recordCalls('pool-no-token', 2);
    await telemetry.shutdown();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`${service.url}/v1/traces failed: HTTP 401`);
    expect(warnings[0]).toContain('OTEL_EXPORTER_OTLP_HEADERS');
    const rows = await service.store.queryRows<{ calls: string }>(
      `SELECT toString(count()) AS calls FROM ${service.store.database}.api_calls WHERE pool = 'pool-no-token'`,
    );
    expect(rows).toEqual([{ calls: '0' }]);
  });
});

describe('startTelemetry endpoint and header precedence', () => {
  it('takes OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, over OTEL_EXPORTER_OTLP_ENDPOINT; code headers win per name', async () => {
    const receiver = await startReceiver(200);
    const unused = await freePort();
    try {
      const telemetry = startTelemetry({
        serviceName: 'env-app',
        headers: { Authorization: 'Bearer from-code' },
        env: {
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/collector/spans`,
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${unused}`,
          OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer from-env, x-tenant=team%20a',
          OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-region=eu',
        },
      });
      recordCalls('pool-precedence', 1);
      await telemetry.shutdown();
      expect(receiver.received).toHaveLength(1);
      const [request] = receiver.received as [Received];
      expect(request.url).toBe('/collector/spans');
      expect(request.headers['authorization']).toBe('Bearer from-code');
      expect(request.headers['x-tenant']).toBe('team a');
      expect(request.headers['x-region']).toBe('eu');
    } finally {
      await receiver.close();
    }
  });

  it('lets the endpoint option win over the environment', async () => {
    const receiver = await startReceiver(200);
    try {
      const telemetry = startTelemetry({
        serviceName: 'env-app',
        endpoint: `${receiver.url}/v1/traces`,
        env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${await freePort()}/v1/traces` },
      });
      recordCalls('pool-option', 1);
      await telemetry.shutdown();
      expect(receiver.received.map((request) => request.url)).toEqual(['/v1/traces']);
    } finally {
      await receiver.close();
    }
  });

  it('refuses a malformed variable, naming it, without echoing header values', () => {
    expect(() =>
      startTelemetry({ serviceName: 's', env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318' } }),
    ).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT is invalid: got "localhost:4318", expected an http\(s\) URL/);
    expect(() =>
      startTelemetry({ serviceName: 's', env: { OTEL_EXPORTER_OTLP_HEADERS: 'secret-token-value' } }),
    ).toThrow(
      /^startTelemetry: OTEL_EXPORTER_OTLP_HEADERS is invalid: got a value, expected comma-separated name=value pairs/,
    );
    expect(() => startTelemetry({ serviceName: 's', shutdownTimeoutMillis: -1 })).toThrow(
      /options\.shutdownTimeoutMillis/,
    );
  });
});

describe('startTelemetry when nobody answers', () => {
  /** Records `spans` calls, shuts down with a 1 s bound: how long it took and the lines written. */
  async function shutDownUnanswered(
    endpoint: string,
    spans: number,
  ): Promise<{ elapsedMs: number; warnings: string[] }> {
    const warnings: string[] = [];
    const telemetry = startTelemetry({
      serviceName: 'env-app',
      endpoint,
      shutdownTimeoutMillis: 1_000,
      warn: (line) => warnings.push(line),
    });
    recordCalls('pool-unanswered', spans);
    const startedMs = performance.now();
    await telemetry.shutdown();
    return { elapsedMs: performance.now() - startedMs, warnings };
  }

  it('with nothing listening: shutdown returns within its bound and one line says the connection was refused', async () => {
    // More spans than one export batch holds (512): several exports fail, one line is written.
    const { elapsedMs, warnings } = await shutDownUnanswered(
      `http://127.0.0.1:${await freePort()}/v1/traces`,
      1_200,
    );
    expect(elapsedMs).toBeLessThan(1_500);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /failed: connection refused \(is headroom running at that address\?\); those spans are dropped/,
    );
  });

  it('with a receiver that never answers: shutdown returns within its bound and one line says it timed out', async () => {
    const receiver = await startReceiver(null);
    try {
      const { elapsedMs, warnings } = await shutDownUnanswered(`${receiver.url}/v1/traces`, 5);
      expect(elapsedMs).toBeLessThan(1_500);
      expect(receiver.received.length).toBeGreaterThan(0);
      expect(warnings).toHaveLength(1);
      // Which bound fires first, the export's own timeout or shutdown's, depends on timer order on a
      // busy machine; either way exactly one line says the receiver did not answer in time.
      expect(warnings[0]).toMatch(/failed: (timeout|no answer within shutdownTimeoutMillis)/);
    } finally {
      await receiver.close();
    }
  });
});
