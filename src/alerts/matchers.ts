import { ErrorCode, HeadroomError } from '../errors/index.ts';
import type { Alert } from './types.ts';

/** A label matcher, as in Alertmanager's API v2: `name`, `value`, regex or not, equal or not. */
export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

/**
 * The labels every alert carries; routes, silences and inhibition rules match on them. `alertname`
 * is the rule, as in Prometheus, so matchers written for Alertmanager keep working.
 */
export const ALERT_LABELS = [
  'alertname',
  'rule',
  'severity',
  'pool',
  'subject_kind',
  'subject',
  'key',
  'partition',
  'quota',
] as const;

export type AlertLabels = Readonly<Record<string, string>>;

export function alertLabels(alert: Alert): AlertLabels {
  return {
    alertname: alert.rule,
    rule: alert.rule,
    severity: alert.severity,
    pool: alert.pool,
    subject_kind: alert.subjectKind,
    subject: alert.subjectId,
    key: alert.subjectKind === 'key' ? alert.subjectId : '',
    partition: alert.partition,
    quota: alert.quotaId,
  };
}

const regexCache = new Map<string, RegExp>();

function anchored(pattern: string): RegExp {
  let re = regexCache.get(pattern);
  if (re === undefined) {
    // Alertmanager anchors regex matchers at both ends.
    re = new RegExp(`^(?:${pattern})$`);
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(pattern, re);
  }
  return re;
}

/** Whether one matcher holds for `labels`; a label that is absent has the value ''. */
export function matcherHolds(matcher: Matcher, labels: AlertLabels): boolean {
  const value = labels[matcher.name] ?? '';
  const hit = matcher.isRegex ? anchored(matcher.value).test(value) : value === matcher.value;
  return hit === matcher.isEqual;
}

export function matchersHold(matchers: readonly Matcher[], labels: AlertLabels): boolean {
  return matchers.every((m) => matcherHolds(m, labels));
}

function badMatcher(field: string, message: string, value: unknown): never {
  throw new HeadroomError(ErrorCode.badRequest, `${field}: ${message}`, {
    statusCode: 400,
    details: { field, value },
  });
}

/**
 * Checks a matcher's name and value: the name must be one of {@link ALERT_LABELS} (anything else
 * would never match), a regex must compile. `field` names it in the error.
 */
export function validateMatcher(matcher: Matcher, field: string): Matcher {
  if (!(ALERT_LABELS as readonly string[]).includes(matcher.name))
    badMatcher(
      `${field}.name`,
      `unknown label ${JSON.stringify(matcher.name)}: expected one of ${ALERT_LABELS.join(', ')}`,
      matcher.name,
    );
  if (matcher.isRegex) {
    try {
      anchored(matcher.value);
    } catch (error) {
      badMatcher(
        `${field}.value`,
        `not a valid regular expression: ${(error as Error).message}`,
        matcher.value,
      );
    }
  }
  return matcher;
}

const MATCHER_TEXT = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/;

/**
 * Parses a matcher written as in Alertmanager and amtool: `pool=prod`, `severity!="warning"`,
 * `key=~"team-.*"`, `rule!~"pace|no_data"`. Values may be double-quoted.
 */
export function parseMatcher(text: string, field = 'matcher'): Matcher {
  const m = MATCHER_TEXT.exec(text);
  if (m === null)
    badMatcher(
      field,
      `${JSON.stringify(text)} is not a matcher: expected name=value, name!=value, name=~regex or name!~regex`,
      text,
    );
  const [, name = '', op = '=', raw = ''] = m;
  let value = raw;
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    try {
      value = JSON.parse(value) as string;
    } catch {
      badMatcher(field, `${JSON.stringify(text)} has a badly quoted value`, text);
    }
  }
  return validateMatcher(
    { name, value, isRegex: op === '=~' || op === '!~', isEqual: op === '=' || op === '=~' },
    field,
  );
}

/** A matcher as amtool prints it. */
export function formatMatcher(m: Matcher): string {
  const op = m.isRegex ? (m.isEqual ? '=~' : '!~') : m.isEqual ? '=' : '!=';
  return `${m.name}${op}${JSON.stringify(m.value)}`;
}
