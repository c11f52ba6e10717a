import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/index.ts';
import { buildApp } from '../http/index.ts';
import { createIngest, type Ingest } from '../ingest/index.ts';
import { createStore, type Store } from '../store/index.ts';

export interface Service {
  readonly app: FastifyInstance;
  readonly store: Store;
  readonly ingest: Ingest | undefined;
  /** The address the service listens on, e.g. `http://127.0.0.1:4318`. */
  readonly url: string;
  /** Graceful shutdown: stop accepting, commit pending batches, close ClickHouse. Idempotent. */
  close(): Promise<void>;
}

/** Wires store, ingest and HTTP for `headroom serve` and listens on the configured address. */
export async function startService(config: Config): Promise<Service> {
  const store = createStore(config);
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  const ingest = config.role === 'analytics' ? undefined : createIngest({ config: config.ingest, store });
  await ingest?.start();
  const app = await buildApp({ config, store, ...(ingest === undefined ? {} : { ingest }) });
  const url = await app.listen({ host: config.host, port: config.port });

  let closing: Promise<void> | undefined;
  return {
    app,
    store,
    ingest,
    url,
    close() {
      closing ??= (async () => {
        await app.close();
        await ingest?.close();
        await store.close();
      })();
      return closing;
    },
  };
}
