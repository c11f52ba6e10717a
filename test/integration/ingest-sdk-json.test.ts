import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { describeSdkContract } from '../support/sdk-contract.ts';

// The SDK registers process-wide globals, so each exporter gets its own test file (and process).
describeSdkContract('OTLP/HTTP JSON', (url) => new OTLPTraceExporter({ url }));
