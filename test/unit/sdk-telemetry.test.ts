import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadroomError } from '../../src/errors/index.ts';
import {
  DEFAULT_TRACES_ENDPOINT,
  recordApiCall,
  startTelemetry,
  type Telemetry,
} from '../../src/sdk/index.ts';

// startTelemetry registers process-wide OpenTelemetry globals: one telemetry per test file.

interface Export {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

describe('startTelemetry', () => {
  let server: Server;
  let endpoint: string;
  let telemetry: Telemetry;
  const exports: Export[] = [];
  let answerStatus = 200;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        exports.push({ headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(answerStatus, { 'content-type': 'application/x-protobuf' });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
    telemetry = startTelemetry({
      endpoint,
      serviceName: 'llm-gateway',
      serviceInstanceId: 'gw-node-7',
      headers: { authorization: 'Bearer ingest-token' },
    });
  });

  afterAll(async () => {
    await telemetry.shutdown();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('refuses invalid options with a message naming the option', () => {
    expect(() => startTelemetry({ serviceName: '' })).toThrow(HeadroomError);
    expect(() => startTelemetry({ serviceName: 's', endpoint: 'localhost:4318' })).toThrow(
      /options\.endpoint/,
    );
    expect(() => startTelemetry({ serviceName: 's', exporter: 'json' as 'proto' })).toThrow(
      /options\.exporter/,
    );
    expect(DEFAULT_TRACES_ENDPOINT).toBe('http://127.0.0.1:4318/v1/traces');
  });

  it('exports contract spans as OTLP protobuf with the resource and headers, and nothing else', async () => {
    recordApiCall({
      pool: 'pool-t',
      keyId: 'key-t',
      provider: 'openai',
      requestModel: 'gpt-4o-mini',
      statusCode: 200,
    });
    trace.getTracer('some-provider-sdk').startSpan('unrelated-span').end();
    await telemetry.forceFlush();
    expect(exports).toHaveLength(1);
    const [sent] = exports as [Export];
    expect(sent.headers['content-type']).toBe('application/x-protobuf');
    expect(sent.headers['authorization']).toBe('Bearer ingest-token');
    const text = sent.body.toString('latin1');
    for (const expected of [
      'chat gpt-4o-mini',
      'pool-t',
      'key-t',
      'llm-gateway',
      'gw-node-7',
      'headroom-sdk',
    ]) {
      expect(text).toContain(expected);
    }
    expect(text).not.toContain('unrelated-span');
  });

  it('swallows export failures: flush and shutdown resolve, the app carries on', async () => {
    answerStatus = 400;
    recordApiCall({ pool: 'pool-t', keyId: 'key-t', provider: 'openai', statusCode: 200 });
    await expect(telemetry.forceFlush()).resolves.toBeUndefined();
    answerStatus = 200;
    recordApiCall({ pool: 'pool-t', keyId: 'key-after', provider: 'openai', statusCode: 200 });
    await telemetry.forceFlush();
    expect(exports.at(-1)?.body.toString('latin1')).toContain('key-after');
  });
});
