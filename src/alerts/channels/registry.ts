import type { HeadroomFile, ReceiverSpec, RouteSpec, SlackConfig } from '../../config/index.ts';
import { ErrorCode, HeadroomError } from '../../errors/index.ts';
import { parseMatcher, type Matcher } from '../matchers.ts';
import { DEFAULT_INHIBIT_RULES, ROUTE_DEFAULTS, type InhibitRule, type Route } from '../pipeline.ts';
import type { Notifier } from './notifier.ts';
import { createPagerDutyNotifier } from './pagerduty.ts';
import { createSlackNotifier } from './slack.ts';
import { createWebhookNotifier } from './webhook.ts';

/** Everything the pipeline routes to: the tree, the receivers with their integrations, inhibition. */
export interface AlertRouting {
  route: Route;
  /** Receiver name → ids of its integrations. */
  receivers: Map<string, string[]>;
  notifiers: Map<string, Notifier>;
  inhibitRules: readonly InhibitRule[];
}

interface Context {
  file: HeadroomFile;
  slack: SlackConfig;
  publicUrl: string | undefined;
}

/** One small factory per channel type: adding a channel is one entry here. */
const CHANNEL_FACTORIES: Readonly<
  Record<
    'slack_configs' | 'webhook_configs' | 'pagerduty_configs',
    (spec: never, id: string, ctx: Context, path: string) => Notifier
  >
> = {
  slack_configs: (spec: ReceiverSpec['slack_configs'][number], id, ctx, path) => {
    if (ctx.slack.token === undefined)
      throw new HeadroomError(
        ErrorCode.config,
        `${path}: a Slack receiver needs the bot token in HEADROOM_SLACK_TOKEN`,
      );
    const poolChannels = new Map(ctx.file.pools.map((p) => [p.name, p.slack_channel]));
    return createSlackNotifier({
      id,
      token: ctx.slack.token,
      ...(ctx.slack.apiUrl === undefined ? {} : { apiUrl: ctx.slack.apiUrl }),
      channelFor: (labels) =>
        spec.channel ??
        poolChannels.get(labels['pool'] ?? '') ??
        ctx.file.alerts.slack_channel ??
        ctx.slack.channel ??
        '',
      timeoutMillis: 10_000,
      ...(ctx.publicUrl === undefined ? {} : { publicUrl: ctx.publicUrl }),
    });
  },
  webhook_configs: (spec: ReceiverSpec['webhook_configs'][number], id, ctx) =>
    createWebhookNotifier({
      id,
      url: spec.url,
      ...(ctx.publicUrl === undefined ? {} : { publicUrl: ctx.publicUrl }),
      ...(spec.secret === undefined ? {} : { secret: spec.secret }),
      timeoutMillis: spec.timeout_seconds * 1000,
    }),
  pagerduty_configs: (spec: ReceiverSpec['pagerduty_configs'][number], id) =>
    createPagerDutyNotifier({
      id,
      routingKey: spec.routing_key,
      url: spec.url,
      timeoutMillis: spec.timeout_seconds * 1000,
    }),
};

function parseMatchers(texts: readonly string[], path: string): Matcher[] {
  return texts.map((text, i) => {
    try {
      return parseMatcher(text, `${path}[${i}]`);
    } catch (error) {
      throw new HeadroomError(ErrorCode.config, `alerts: ${(error as Error).message}`, { cause: error });
    }
  });
}

function buildRoute(spec: RouteSpec, parent: Route | undefined, path: string): Route {
  const route: Omit<Route, 'routes'> & { routes: Route[] } = {
    receiver: spec.receiver ?? parent?.receiver ?? '',
    matchers: parseMatchers(spec.matchers, `${path}.matchers`),
    groupBy: spec.group_by ?? parent?.groupBy ?? ROUTE_DEFAULTS.groupBy,
    groupWaitMs: spec.group_wait ?? parent?.groupWaitMs ?? ROUTE_DEFAULTS.groupWaitMs,
    groupIntervalMs: spec.group_interval ?? parent?.groupIntervalMs ?? ROUTE_DEFAULTS.groupIntervalMs,
    repeatIntervalMs: spec.repeat_interval ?? parent?.repeatIntervalMs ?? ROUTE_DEFAULTS.repeatIntervalMs,
    continue: spec.continue,
    routes: [],
  };
  route.routes = spec.routes.map((child, i) => buildRoute(child, route, `${path}.routes[${i}]`));
  return route;
}

/**
 * The receivers and routing tree from the configuration file. Without `alerts.receivers`, a Slack
 * bot token and a channel (HEADROOM_SLACK_TOKEN with HEADROOM_SLACK_CHANNEL, `alerts.slack_channel`
 * or a pool's `slack_channel`) make one receiver `slack`; with neither, there is no receiver and
 * alerts are evaluated and listed but not sent.
 */
export function buildAlertRouting(
  file: HeadroomFile,
  slack: SlackConfig,
  /** `HEADROOM_PUBLIC_URL`: messages and payloads link to the page of their subject. */
  publicUrl?: string,
): AlertRouting {
  const ctx: Context = { file, slack, publicUrl };
  let receivers = file.alerts.receivers;
  const anyChannel =
    slack.channel !== undefined ||
    file.alerts.slack_channel !== undefined ||
    file.pools.some((p) => p.slack_channel !== undefined);
  if (receivers.length === 0 && slack.token !== undefined && anyChannel)
    receivers = [{ name: 'slack', slack_configs: [{}], webhook_configs: [], pagerduty_configs: [] }];

  const notifiers = new Map<string, Notifier>();
  const byName = new Map<string, string[]>();
  receivers.forEach((receiver, r) => {
    const ids: string[] = [];
    for (const type of ['slack_configs', 'webhook_configs', 'pagerduty_configs'] as const) {
      receiver[type].forEach((spec, i) => {
        const id = `${receiver.name}/${type.replace('_configs', '')}/${i}`;
        const factory = CHANNEL_FACTORIES[type] as (
          s: typeof spec,
          id: string,
          c: Context,
          p: string,
        ) => Notifier;
        notifiers.set(id, factory(spec, id, ctx, `alerts.receivers[${r}].${type}[${i}]`));
        ids.push(id);
      });
    }
    byName.set(receiver.name, ids);
  });

  const rootSpec: RouteSpec = file.alerts.route ?? { matchers: [], continue: false, routes: [] };
  const route = buildRoute(
    { ...rootSpec, receiver: rootSpec.receiver ?? receivers[0]?.name ?? '' },
    undefined,
    'alerts.route',
  );
  const inhibitRules =
    file.alerts.inhibit_rules?.map((rule, i) => ({
      sourceMatchers: parseMatchers(rule.source_matchers, `alerts.inhibit_rules[${i}].source_matchers`),
      targetMatchers: parseMatchers(rule.target_matchers, `alerts.inhibit_rules[${i}].target_matchers`),
      equal: rule.equal,
    })) ?? DEFAULT_INHIBIT_RULES;
  return { route, receivers: byName, notifiers, inhibitRules };
}
