import { describe, expect, it } from 'vitest';
import {
  buildAlertRouting,
  buildGroupBlocks,
  decideNotifications,
  DEFAULT_INHIBIT_RULES,
  estimateUsualGapMs,
  evaluateKeyHealth,
  evaluateNoData,
  evaluatePoolCapacity,
  evaluateThrottling,
  DEFAULT_HEALTH_RULE_SETTINGS,
  parseMatcher,
  ROUTE_DEFAULTS,
  SLACK_LIMITS,
  type Alert,
  type NotificationIntent,
  type NotificationRecord,
  type PipelineInput,
  type Route,
  type Silence,
} from '../../src/alerts/index.ts';
import { parseHeadroomFile } from '../../src/config/index.ts';

const NOW = Date.UTC(2026, 10, 21, 15, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

function alert(overrides: Partial<Alert> & { subjectId: string }): Alert {
  const rule = overrides.rule ?? 'forecast';
  const kind = overrides.subjectKind ?? 'key';
  const quota = overrides.quotaId ?? 'requests_per_day';
  return {
    alertId: `${rule}:p:${kind}:${overrides.subjectId}:${quota}`,
    rule,
    severity: 'warning',
    state: 'firing',
    pool: 'p',
    subjectKind: kind,
    partition: '',
    quotaId: quota,
    summary: `key ${overrides.subjectId} in pool p will run out`,
    facts: { advice: 'shift traffic', etaP50Ms: NOW + 2 * HOUR },
    startedAtMs: NOW - 10 * MIN,
    firedAtMs: NOW - 10 * MIN,
    lastTrueAtMs: NOW,
    ...overrides,
  };
}

const route: Route = {
  receiver: 'ops',
  matchers: [],
  groupBy: ROUTE_DEFAULTS.groupBy,
  groupWaitMs: ROUTE_DEFAULTS.groupWaitMs,
  groupIntervalMs: ROUTE_DEFAULTS.groupIntervalMs,
  repeatIntervalMs: ROUTE_DEFAULTS.repeatIntervalMs,
  continue: false,
  routes: [],
};

function input(overrides: Partial<PipelineInput>): PipelineInput {
  return {
    alerts: [],
    route,
    receivers: new Map([['ops', ['ops/slack/0']]]),
    inhibitRules: DEFAULT_INHIBIT_RULES,
    silences: [],
    records: new Map(),
    failures: new Map(),
    busy: new Set(),
    nowMs: NOW,
    ...overrides,
  };
}

/** What a delivery job records after sending `intent`. */
function sent(intent: NotificationIntent): Map<string, NotificationRecord> {
  return new Map([
    [
      intent.key,
      {
        key: intent.key,
        groupKey: intent.groupKey,
        receiver: intent.receiver,
        integration: intent.integration,
        seq: intent.seq,
        status: intent.kind === 'resolved' ? 'resolved' : 'firing',
        contentHash: intent.contentHash,
        messageRef: { channel: 'C1', ts: '1.1' },
        alerts: intent.alerts,
        groupLabels: intent.groupLabels,
        firstSentAtMs: intent.previous?.firstSentAtMs ?? intent.decidedAtMs,
        lastSentAtMs: intent.decidedAtMs,
      },
    ],
  ]);
}

const three = ['a', 'b', 'c'].map((k) => alert({ subjectId: k }));

describe('notification pipeline', () => {
  it('groups the alerts of one pool and rule into one notification, after group_wait', () => {
    const early = decideNotifications(
      input({ alerts: three.map((a) => ({ ...a, firedAtMs: NOW - 10_000 })) }),
    );
    expect(early.intents).toEqual([]);
    const { intents } = decideNotifications(input({ alerts: three }));
    expect(intents).toHaveLength(1);
    expect(intents[0]).toMatchObject({
      kind: 'firing',
      seq: 1,
      groupLabels: { pool: 'p', rule: 'forecast' },
    });
    expect(intents[0]?.alerts.map((a) => a.labels['key'])).toEqual(['a', 'b', 'c']);
  });

  it('sends an unchanged group again after repeat_interval, and not before', () => {
    const first = decideNotifications(input({ alerts: three })).intents[0] as NotificationIntent;
    const records = sent(first);
    const later = (ms: number) =>
      decideNotifications(input({ alerts: three, records, nowMs: NOW + ms })).intents;
    expect(later(4 * HOUR - MIN)).toEqual([]);
    expect(later(4 * HOUR)).toMatchObject([{ kind: 'repeat', seq: 2 }]);
  });

  it('sends a change after group_interval: escalation and new alerts, then resolution', () => {
    const first = decideNotifications(input({ alerts: three })).intents[0] as NotificationIntent;
    const records = sent(first);
    const changed = [
      { ...(three[0] as Alert), severity: 'critical' as const },
      three[1] as Alert,
      three[2] as Alert,
      alert({ subjectId: 'd' }),
    ];
    expect(decideNotifications(input({ alerts: changed, records, nowMs: NOW + 4 * MIN })).intents).toEqual(
      [],
    );
    const update = decideNotifications(input({ alerts: changed, records, nowMs: NOW + 5 * MIN })).intents[0];
    expect(update).toMatchObject({ kind: 'update', seq: 2 });
    expect(update?.changes.escalated.map((a) => a.labels['key'])).toEqual(['a']);
    expect(update?.changes.added.map((a) => a.labels['key'])).toEqual(['d']);
    const resolved = decideNotifications(
      input({ alerts: [], records: sent(update as NotificationIntent), nowMs: NOW + 11 * MIN }),
    );
    expect(resolved.intents).toMatchObject([{ kind: 'resolved', seq: 3 }]);
    expect(resolved.intents[0]?.alerts).toHaveLength(4);
  });

  it('tells a forecast revision (ETA moved by half an hour or more), not every small move', () => {
    const first = decideNotifications(input({ alerts: three })).intents[0] as NotificationIntent;
    const records = sent(first);
    const nudged = three.map((a) => ({ ...a, facts: { ...a.facts, etaP50Ms: NOW + 2 * HOUR + 5 * MIN } }));
    expect(decideNotifications(input({ alerts: nudged, records, nowMs: NOW + 10 * MIN })).intents).toEqual(
      [],
    );
    const moved = [
      { ...(three[0] as Alert), facts: { advice: '', etaP50Ms: NOW + HOUR } },
      three[1] as Alert,
      three[2] as Alert,
    ];
    const revised = decideNotifications(input({ alerts: moved, records, nowMs: NOW + 10 * MIN })).intents[0];
    expect(revised?.changes.revised.map((a) => a.labels['key'])).toEqual(['a']);
  });

  it('drops silenced alerts but lists them as silenced; an expired silence no longer applies', () => {
    const silence: Silence = {
      id: 's1',
      matchers: [parseMatcher('key=~"a|b"')],
      startsAtMs: NOW - HOUR,
      endsAtMs: NOW + HOUR,
      createdBy: 'sre',
      comment: 'maintenance',
      updatedAtMs: NOW - HOUR,
    };
    const during = decideNotifications(input({ alerts: three, silences: [silence] }));
    expect(during.intents[0]?.alerts.map((a) => a.labels['key'])).toEqual(['c']);
    expect(during.marks.get(three[0]?.alertId ?? '')?.silencedBy).toEqual(['s1']);
    const all = decideNotifications(input({ alerts: three.slice(0, 2), silences: [silence] }));
    expect(all.intents).toEqual([]);
    const after = decideNotifications(input({ alerts: three, silences: [silence], nowMs: NOW + HOUR }));
    expect(after.intents[0]?.alerts).toHaveLength(3);
  });

  it('a pool-capacity alert inhibits the per-key alerts of its pool, not other pools', () => {
    const capacity = alert({ subjectId: 'p', subjectKind: 'pool', rule: 'pool_capacity' });
    const other = alert({ subjectId: 'x', pool: 'q', alertId: 'forecast:q:key:x:r' });
    const { intents, marks } = decideNotifications(input({ alerts: [...three, capacity, other] }));
    expect(intents.map((i) => i.groupLabels)).toEqual(
      expect.arrayContaining([
        { pool: 'p', rule: 'pool_capacity' },
        { pool: 'q', rule: 'forecast' },
      ]),
    );
    expect(intents).toHaveLength(2);
    expect(marks.get(three[0]?.alertId ?? '')?.inhibitedBy).toEqual([capacity.alertId]);
  });

  it('a partition alert inhibits its keys alerts on the same quota only', () => {
    const partition = alert({
      subjectId: 'org',
      subjectKind: 'partition',
      partition: 'org',
      rule: 'threshold',
    });
    const inOrg = alert({ subjectId: 'a', partition: 'org' });
    const otherQuota = alert({ subjectId: 'b', partition: 'org', quotaId: 'tokens_per_day' });
    const { marks } = decideNotifications(input({ alerts: [partition, inOrg, otherQuota] }));
    expect(marks.get(inOrg.alertId)?.inhibitedBy).toEqual([partition.alertId]);
    expect(marks.get(otherQuota.alertId)?.inhibitedBy).toEqual([]);
  });

  it('routes by matchers to receivers, first match wins unless continue', () => {
    const tree: Route = {
      ...route,
      routes: [
        {
          ...route,
          receiver: 'pager',
          matchers: [parseMatcher('severity="critical"')],
          continue: true,
          routes: [],
        },
        { ...route, receiver: 'team', matchers: [parseMatcher('pool=~"p|q"')], routes: [] },
      ],
    };
    const receivers = new Map([
      ['ops', ['ops/slack/0']],
      ['pager', ['pager/pagerduty/0']],
      ['team', ['team/webhook/0']],
    ]);
    const critical = alert({ subjectId: 'a', severity: 'critical' });
    const { intents } = decideNotifications(
      input({
        alerts: [critical, alert({ subjectId: 'z', pool: 'r', alertId: 'x' })],
        route: tree,
        receivers,
      }),
    );
    expect(intents.map((i) => i.integration).sort()).toEqual([
      'ops/slack/0',
      'pager/pagerduty/0',
      'team/webhook/0',
    ]);
  });

  it('sends nothing while a delivery is in flight, and backs off group_interval after a refusal', () => {
    const key = (decideNotifications(input({ alerts: three })).intents[0] as NotificationIntent).key;
    expect(decideNotifications(input({ alerts: three, busy: new Set([key]) })).intents).toEqual([]);
    const failures = new Map([[key, NOW]]);
    expect(decideNotifications(input({ alerts: three, failures, nowMs: NOW + MIN })).intents).toEqual([]);
    expect(
      decideNotifications(input({ alerts: three, failures, nowMs: NOW + 5 * MIN })).intents,
    ).toHaveLength(1);
  });

  it('keeps Slack messages within Block Kit limits with fresh block ids', () => {
    const many = Array.from({ length: 80 }, (_, i) =>
      alert({ subjectId: `k${i}`, summary: 'x'.repeat(4000) }),
    );
    const intent = decideNotifications(input({ alerts: many })).intents[0] as NotificationIntent;
    const blocks = buildGroupBlocks(intent, false) as Array<{
      type: string;
      block_id?: string;
      text?: { text: string };
    }>;
    expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
    expect(blocks[0]?.text?.text.length).toBeLessThanOrEqual(150);
    for (const b of blocks) if (b.type === 'section') expect(b.text?.text.length).toBeLessThanOrEqual(3000);
    expect(JSON.stringify(blocks)).toContain('and 33 more');
    const next = buildGroupBlocks({ ...intent, seq: 2 }, false) as typeof blocks;
    expect(next[0]?.block_id).not.toBe(blocks[0]?.block_id);
  });
});

describe('more rules', () => {
  const settings = DEFAULT_HEALTH_RULE_SETTINGS;
  const outcome = {
    pool: 'p',
    keyId: 'a',
    partition: 'org',
    calls: 100,
    rateLimited: 0,
    quotaExhausted: 0,
    authErrors: 0,
    lastAuthErrorMs: 0,
    lastOkMs: NOW,
  };

  it('throttling: the share of throttled calls per key and per pool, given enough calls', () => {
    expect(evaluateThrottling([{ ...outcome, rateLimited: 9 }], settings)).toEqual([]);
    expect(
      evaluateThrottling([{ ...outcome, rateLimited: 10 }], settings).map((c) => [c.subjectKind, c.severity]),
    ).toEqual([
      ['key', 'warning'],
      ['pool', 'warning'],
    ]);
    expect(
      evaluateThrottling([{ ...outcome, rateLimited: 30, quotaExhausted: 30 }], settings)[0]?.severity,
    ).toBe('critical');
    expect(evaluateThrottling([{ ...outcome, calls: 10, rateLimited: 10 }], settings)).toEqual([]);
  });

  it('pool capacity: fires within the lead time when the pool runs dry even with ideal balancing', () => {
    const facts = {
      pool: 'p',
      quotaId: 'requests_per_day',
      dimension: 'requests',
      keys: 3,
      runsDry: true,
      etaMs: NOW + 2 * HOUR,
      demandPerSecond: 1,
    };
    expect(evaluatePoolCapacity([facts], settings, NOW)).toMatchObject([
      { rule: 'pool_capacity', subjectKind: 'pool', severity: 'warning' },
    ]);
    expect(evaluatePoolCapacity([{ ...facts, etaMs: NOW + HOUR }], settings, NOW)[0]?.severity).toBe(
      'critical',
    );
    expect(evaluatePoolCapacity([{ ...facts, etaMs: NOW + 7 * HOUR }], settings, NOW)).toEqual([]);
    expect(evaluatePoolCapacity([{ ...facts, runsDry: false, etaMs: null }], settings, NOW)).toEqual([]);
  });

  it('key health: auth errors with no success since, and expires_at ahead', () => {
    expect(
      evaluateKeyHealth(
        [{ ...outcome, authErrors: 3, lastAuthErrorMs: NOW - MIN, lastOkMs: NOW - HOUR }],
        [],
        settings,
        NOW,
      ),
    ).toMatchObject([{ rule: 'key_health', severity: 'critical' }]);
    expect(
      evaluateKeyHealth([{ ...outcome, authErrors: 3, lastAuthErrorMs: NOW - HOUR }], [], settings, NOW),
    ).toEqual([]);
    const key = { pool: 'p', keyId: 'a', partition: 'a', lastSeenMs: NOW, usualGapMs: null };
    expect(
      evaluateKeyHealth([], [{ ...key, expiresAtMs: NOW + 10 * 24 * HOUR }], settings, NOW)[0]?.severity,
    ).toBe('warning');
    expect(evaluateKeyHealth([], [{ ...key, expiresAtMs: NOW - HOUR }], settings, NOW)[0]?.summary).toContain(
      'expired',
    );
    expect(evaluateKeyHealth([], [{ ...key, expiresAtMs: NOW + 20 * 24 * HOUR }], settings, NOW)).toEqual([]);
  });

  it('no data: a key silent for longer than its usual gap allows', () => {
    const starts = Array.from({ length: 12 }, (_, i) => NOW - 6 * HOUR + i * 10 * MIN);
    const gap = estimateUsualGapMs(starts);
    expect(gap).toBe(10 * MIN);
    const key = { pool: 'p', keyId: 'a', partition: 'a', usualGapMs: gap };
    expect(evaluateNoData([{ ...key, lastSeenMs: NOW - 20 * MIN }], settings, NOW)).toEqual([]);
    expect(evaluateNoData([{ ...key, lastSeenMs: NOW - 45 * MIN }], settings, NOW)).toMatchObject([
      { rule: 'no_data' },
    ]);
    expect(evaluateNoData([{ ...key, lastSeenMs: null }], settings, NOW)).toEqual([]);
    expect(estimateUsualGapMs(starts.slice(0, 3))).toBeNull();
  });
});

describe('alert routing configuration', () => {
  it('reads Alertmanager-named routes and receivers with their defaults', () => {
    const file = parseHeadroomFile(
      `
alerts:
  route:
    receiver: team
    group_wait: 10s
    routes:
      - receiver: pager
        matchers: ['severity="critical"']
        repeat_interval: 1h
  receivers:
    - name: team
      webhook_configs: [{ url: 'http://127.0.0.1:9/hook', secret: s3cret }]
    - name: pager
      pagerduty_configs: [{ routing_key: rk, url: 'http://127.0.0.1:9' }]
`,
      'test.yaml',
    );
    const routing = buildAlertRouting(file, { token: undefined, channel: undefined, apiUrl: undefined });
    expect(routing.route).toMatchObject({
      receiver: 'team',
      groupWaitMs: 10_000,
      groupIntervalMs: 5 * MIN,
      repeatIntervalMs: 4 * HOUR,
    });
    expect(routing.route.routes[0]).toMatchObject({
      receiver: 'pager',
      groupWaitMs: 10_000,
      repeatIntervalMs: HOUR,
      groupBy: ['pool', 'rule'],
    });
    expect([...routing.receivers]).toEqual([
      ['team', ['team/webhook/0']],
      ['pager', ['pager/pagerduty/0']],
    ]);
  });

  it('names the field of a bad route, receiver or matcher', () => {
    expect(() => parseHeadroomFile(`alerts: { route: { receiver: nope } }`, 't.yaml')).toThrow(
      /alerts\.route\.receiver: "nope" is invalid: expected the name of a receiver in alerts\.receivers/,
    );
    expect(() =>
      parseHeadroomFile(
        `alerts: { receivers: [{ name: a }], route: { receiver: a, group_wait: soon } }`,
        't.yaml',
      ),
    ).toThrow(/alerts\.route\.group_wait: "soon" is invalid: expected a duration such as 30s/);
    const bad = parseHeadroomFile(
      `alerts: { receivers: [{ name: a }], route: { receiver: a, matchers: ['colour="red"'] } }`,
      't.yaml',
    );
    expect(() => buildAlertRouting(bad, { token: undefined, channel: undefined, apiUrl: undefined })).toThrow(
      /matchers\[0\].name: unknown label "colour"/,
    );
  });

  it('has no receiver without a channel; a Slack token and channel make one', () => {
    const none = buildAlertRouting(parseHeadroomFile('{}', 't'), {
      token: undefined,
      channel: undefined,
      apiUrl: undefined,
    });
    expect(none.notifiers.size).toBe(0);
    const slack = buildAlertRouting(parseHeadroomFile('{}', 't'), {
      token: 'xoxb-1',
      channel: '#ops',
      apiUrl: undefined,
    });
    expect([...slack.notifiers.values()].map((n) => n.description)).toEqual(['slack #ops']);
  });
});
