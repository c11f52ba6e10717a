import type { IoResult } from '../../errors/index.ts';
import type { NotificationIntent } from '../pipeline.ts';

/** Where a receiver keeps a group's notification: Slack `{channel, ts}`, PagerDuty `{dedup_key}`. */
export type MessageRef = Readonly<Record<string, string>>;

/**
 * One integration of a receiver (a Slack channel, a webhook, a PagerDuty service). `send` carries
 * out one intent once: no retries of its own (the delivery wrapper retries `retryable` results);
 * never throws for an expected failure.
 */
export interface Notifier {
  /** `<receiver>/<type>/<index>`: stable, recorded in the `notifications` table. */
  readonly id: string;
  readonly type: string;
  /** For the start-up log: where it sends, without secrets. */
  readonly description: string;
  send(intent: NotificationIntent): Promise<IoResult<MessageRef>>;
}
