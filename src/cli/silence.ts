import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { formatMatcher, parseMatcher, type Matcher } from '../alerts/index.ts';
import type { Config } from '../config/index.ts';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { requestService } from '../status/index.ts';

export const SILENCE_HELP = `headroom silence: silences of a running headroom service, like amtool's.

Usage:
  headroom silence add [--duration 2h | --end TIME] [--start TIME] --comment TEXT [--author NAME] MATCHER...
      MATCHER as in Alertmanager: pool=prod  key=~"team-.*"  severity!=warning  rule!~"pace|no_data"
      Labels: alertname, rule, severity, pool, subject_kind, subject, key, partition, quota.
  headroom silence ls [--expired]
  headroom silence expire ID...

Options:
  --url URL   the service (default http://HEADROOM_HOST:HEADROOM_PORT); HEADROOM_ADMIN_TOKEN is sent as bearer token
`;

const DURATION = /^(\d+)(m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

function usage(message: string): never {
  throw new HeadroomError(ErrorCode.badRequest, `${message}\n\n${SILENCE_HELP}`);
}

interface SilenceJson {
  id: string;
  status: { state: string };
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
}

function pad(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** `headroom silence add|ls|expire`: talks to the running service over HTTP (chDB locks its directory). */
export async function runSilenceCommand(
  args: string[],
  config: Config,
  defaultUrl: string,
  write: (text: string) => void = (t) => process.stdout.write(t),
): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      duration: { type: 'string', short: 'd' },
      start: { type: 'string' },
      end: { type: 'string' },
      comment: { type: 'string', short: 'c' },
      author: { type: 'string', short: 'a' },
      expired: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help === true || command === undefined) {
    write(SILENCE_HELP);
    return command === undefined && values.help !== true ? 1 : 0;
  }
  const baseUrl = values.url ?? defaultUrl;
  const request = (method: string, path: string, body?: object): Promise<unknown> =>
    requestService(baseUrl, path, {
      method,
      ...(body === undefined ? {} : { body }),
      ...(config.adminToken === undefined ? {} : { adminToken: config.adminToken }),
    });
  switch (command) {
    case 'add': {
      if (rest.length === 0) usage('silence add: give at least one matcher, e.g. pool=prod');
      const matchers = rest.map((text, i) => parseMatcher(text, `matcher ${i + 1}`));
      if (values.comment === undefined || values.comment.trim() === '')
        usage('silence add: --comment is required (say why, for whoever sees the silence)');
      const startsAtMs = values.start === undefined ? Date.now() : Date.parse(values.start);
      if (!Number.isFinite(startsAtMs)) usage(`--start ${values.start ?? ''}: expected an RFC 3339 time`);
      let endsAtMs: number;
      if (values.end !== undefined) {
        endsAtMs = Date.parse(values.end);
        if (!Number.isFinite(endsAtMs)) usage(`--end ${values.end}: expected an RFC 3339 time`);
      } else {
        const m = DURATION.exec(values.duration ?? '1h');
        if (m === null)
          usage(`--duration ${values.duration ?? ''}: expected a duration such as 30m, 2h, 1d or 1w`);
        endsAtMs = startsAtMs + Number(m[1]) * (UNIT_MS[m[2] ?? 'h'] ?? 3_600_000);
      }
      const answer = (await request('POST', '/v1/silences', {
        matchers,
        startsAt: new Date(startsAtMs).toISOString(),
        endsAt: new Date(endsAtMs).toISOString(),
        createdBy: values.author ?? userInfo().username,
        comment: values.comment,
      })) as { silenceID: string };
      write(`${answer.silenceID}\n`);
      return 0;
    }
    case 'ls': {
      const list = (await request('GET', '/v1/silences')) as SilenceJson[];
      const shown = list.filter((s) => values.expired === true || s.status.state !== 'expired');
      write(
        pad([
          ['ID', 'STATE', 'MATCHERS', 'STARTS', 'ENDS', 'CREATED BY', 'COMMENT'],
          ...shown.map((s) => [
            s.id,
            s.status.state,
            s.matchers.map(formatMatcher).join(' '),
            s.startsAt,
            s.endsAt,
            s.createdBy,
            s.comment,
          ]),
        ]),
      );
      return 0;
    }
    case 'expire': {
      if (rest.length === 0) usage('silence expire: give the id of the silence (see headroom silence ls)');
      for (const id of rest) {
        await request('DELETE', `/v1/silences/${encodeURIComponent(id)}`);
        write(`expired ${id}\n`);
      }
      return 0;
    }
    default:
      return usage(`unknown silence command ${JSON.stringify(command)}`);
  }
}
