import { describe, expect, it } from 'vitest';
import {
  buildGroupBlocks,
  buildWebhookPayload,
  type NotificationIntent,
  type SentAlert,
} from '../../src/alerts/index.ts';
import { createMetricsRegistry } from '../../src/metrics/index.ts';
import {
  buildKeyRow,
  pagePathFor,
  pageUrlFor,
  rankKeyRows,
  type KeyView,
  type QuotaView,
} from '../../src/view/index.ts';

function quota(overrides: Partial<QuotaView>): QuotaView {
  return {
    quota_id: 'requests_per_day',
    dimension: 'requests',
    window: 'day',
    source: 'config',
    refilled: false,
    used: 100,
    limit: 1000,
    remaining: 900,
    window_start: '2026-06-10T00:00:00.000Z',
    reset_at: '2026-06-11T00:00:00.000Z',
    eta_p10: null,
    eta_p50: null,
    eta_p90: null,
    p_exhaust: 0,
    pace_eta: null,
    status: 'ok',
    method: 'headroom.profile_nb.v2',
    ...overrides,
  };
}

function key(id: string, quotas: QuotaView[]): KeyView {
  return { pool: 'p', key_id: id, partition: id, provider: 'openai', weight: 0.5, state: 'active', quotas };
}

describe('links to pages', () => {
  it('names the page of a key, a partition and a pool, escaped', () => {
    expect(pagePathFor({ pool: 'main pool', kind: 'key', id: 'k/1' })).toBe('/pools/main%20pool/keys/k%2F1');
    expect(pagePathFor({ pool: 'p', kind: 'partition', id: 'org-1' })).toBe('/pools/p#partition-org-1');
    expect(pagePathFor({ pool: 'p', kind: 'pool', id: 'p' })).toBe('/pools/p');
  });

  it('is absolute under the public URL, and absent without one', () => {
    expect(pageUrlFor({ pool: 'p', kind: 'key', id: 'k' }, 'https://headroom.example.com/')).toBe(
      'https://headroom.example.com/pools/p/keys/k',
    );
    expect(pageUrlFor({ pool: 'p', kind: 'key', id: 'k' }, undefined)).toBeUndefined();
  });

  it('links each alert of a Slack message and a webhook payload to its page when a public URL is set', () => {
    const alert: SentAlert = {
      alertId: 'a',
      rule: 'forecast',
      severity: 'critical',
      summary: 'key-b will run out',
      labels: { pool: 'p', subject_kind: 'key', subject: 'key-b', rule: 'forecast' },
      startsAtMs: 0,
      facts: { advice: 'add a key' },
    };
    const intent: NotificationIntent = {
      key: 'g|slack',
      groupKey: 'g',
      receiver: 'ops',
      integration: 'ops/slack/0',
      seq: 1,
      kind: 'firing',
      groupLabels: { pool: 'p' },
      alerts: [alert],
      contentHash: 'h',
      previous: undefined,
      changes: { added: [alert], resolved: [], escalated: [], revised: [] },
      decidedAtMs: 0,
    };
    const page = 'https://h.example/pools/p/keys/key-b';
    expect(JSON.stringify(buildGroupBlocks(intent, false, 'https://h.example'))).toContain(
      `<${page}|Open in headroom>`,
    );
    expect(JSON.stringify(buildGroupBlocks(intent, false))).not.toContain('Open in headroom');
    expect(buildWebhookPayload(intent, 'https://h.example/')).toMatchObject({
      externalURL: 'https://h.example/',
      alerts: [{ generatorURL: page }],
    });
    expect(buildWebhookPayload(intent)).toMatchObject({ externalURL: '', alerts: [{ generatorURL: '' }] });
  });
});

describe('key ranking', () => {
  it('puts the key most likely to run out first, then the fullest', () => {
    const rows = rankKeyRows([
      buildKeyRow(key('calm', [quota({ used: 100 })])),
      buildKeyRow(key('full', [quota({ used: 850 })])),
      buildKeyRow(key('unknown', [])),
      buildKeyRow(
        key('doomed', [quota({ p_exhaust: 0.97, eta_p50: '2026-06-10T18:00:00.000Z' }), quota({ used: 10 })]),
      ),
      buildKeyRow(key('done', [quota({ used: 1000, status: 'exhausted', p_exhaust: 1 })])),
    ]);
    expect(rows.map((r) => [r.key.key_id, r.risk])).toEqual([
      ['done', 'critical'],
      ['doomed', 'critical'],
      ['full', 'warning'],
      ['calm', 'ok'],
      ['unknown', 'unknown'],
    ]);
    expect(rows[1]?.worst?.p_exhaust).toBe(0.97);
  });
});

describe('metrics registry', () => {
  it('renders counters, gauges, summaries and collected samples in the text format', () => {
    const metrics = createMetricsRegistry();
    metrics.increment('jobs_total', 'Jobs.', { job: 'a "b"', outcome: 'success' });
    metrics.increment('jobs_total', 'Jobs.', { job: 'a "b"', outcome: 'success' });
    metrics.observe('job_seconds', 'Durations.', 0.5, { job: 'a' });
    metrics.observe('job_seconds', 'Durations.', 1.5, { job: 'a' });
    metrics.setGauge('up', 'Up.', 1);
    metrics.collect(() => [{ name: 'queued', help: 'Queued.', kind: 'gauge', value: 7 }]);
    expect(metrics.render()).toBe(
      [
        '# HELP jobs_total Jobs.',
        '# TYPE jobs_total counter',
        'jobs_total{job="a \\"b\\"",outcome="success"} 2',
        '# HELP job_seconds Durations.',
        '# TYPE job_seconds summary',
        'job_seconds_sum{job="a"} 2',
        'job_seconds_count{job="a"} 2',
        '# HELP up Up.',
        '# TYPE up gauge',
        'up 1',
        '# HELP queued Queued.',
        '# TYPE queued gauge',
        'queued 7',
        '',
      ].join('\n'),
    );
  });
});
