import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createStore, type Store } from '../../src/store/index.ts';
import { makeDataDir } from '../support/service.ts';

const DASHBOARDS = fileURLToPath(new URL('../../dashboards/', import.meta.url));

interface Panel {
  title: string;
  targets?: Array<{ rawSql: string }>;
}

/** Grafana ClickHouse data source macros and variables, replaced as the data source would. */
function expandMacros(sql: string): string {
  return sql
    .replaceAll('$__fromTime', "toDateTime64('2026-01-01 00:00:00', 3)")
    .replaceAll('$__toTime', 'now64(3)')
    .replaceAll('${pool:singlequote}', "'demo'");
}

describe('Grafana dashboards', () => {
  let data: Awaited<ReturnType<typeof makeDataDir>>;
  let store: Store;
  beforeAll(async () => {
    data = await makeDataDir('headroom-dashboards-');
    store = createStore(loadConfig({ env: { HEADROOM_DATA_DIR: data.dir } }));
    await store.migrate();
  });
  afterAll(async () => {
    await store.close();
    await data.remove();
  });

  it('run every panel and variable query against the schema', async () => {
    const files = (await readdir(DASHBOARDS)).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    let queries = 0;
    for (const file of files) {
      const dashboard = JSON.parse(await readFile(join(DASHBOARDS, file), 'utf8')) as {
        panels: Panel[];
        templating: { list: Array<{ query: string }> };
      };
      const sqls = [
        ...dashboard.panels.flatMap((p) =>
          (p.targets ?? []).map((t) => ({ where: `${file}: ${p.title}`, sql: t.rawSql })),
        ),
        ...dashboard.templating.list.map((v) => ({ where: `${file}: variable`, sql: v.query })),
      ];
      for (const { where, sql } of sqls) {
        await expect(store.queryRows(expandMacros(sql)), where).resolves.toBeInstanceOf(Array);
        queries++;
      }
    }
    expect(queries).toBeGreaterThan(8);
  });
});
