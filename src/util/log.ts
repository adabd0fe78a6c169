/**
 * Events and progress. On a terminal: short human lines and one self-rewriting progress line
 * on stderr. Otherwise: one JSON object per line on stderr, so stdout stays for results.
 */
import { isCrmBackupError } from './errors.js';

export type Fields = Record<string, string | number | boolean | bigint | null | undefined>;

export interface Logger {
  info(event: string, message: string, fields?: Fields): void;
  warn(event: string, message: string, fields?: Fields): void;
  error(event: string, message: string, fields?: Fields): void;
  /** Throttled progress; on a terminal it rewrites one line, otherwise at most one JSON line per interval. */
  progress(event: string, message: string, fields?: Fields): void;
  /** Ends a progress line so the next output starts clean. */
  done(): void;
}

export interface LoggerOptions {
  readonly json?: boolean;
  readonly quiet?: boolean;
  readonly out?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly progressIntervalMs?: number;
}

function toJson(fields: Fields | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields ?? {}))
    if (v !== undefined) out[k] = typeof v === 'bigint' ? v.toString() : v;
  return out;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const out = opts.out ?? process.stderr;
  const tty = !opts.json && out.isTTY === true;
  const interval = opts.progressIntervalMs ?? (tty ? 200 : 5000);
  let lastProgress = 0;
  let progressShown = false;

  const clear = (): void => {
    if (tty && progressShown) {
      out.write('\r\x1b[2K');
      progressShown = false;
    }
  };
  const line = (level: string, event: string, message: string, fields?: Fields): void => {
    if (opts.quiet && level === 'info') return;
    if (tty) {
      clear();
      const prefix = level === 'info' ? '' : `${level}: `;
      out.write(`${prefix}${message}\n`);
    } else {
      out.write(
        `${JSON.stringify({ time: new Date().toISOString(), level, event, message, ...toJson(fields) })}\n`,
      );
    }
  };
  return {
    info: (e, m, f) => line('info', e, m, f),
    warn: (e, m, f) => line('warn', e, m, f),
    error: (e, m, f) => line('error', e, m, f),
    progress(event, message, fields) {
      if (opts.quiet) return;
      const now = Date.now();
      if (now - lastProgress < interval) return;
      lastProgress = now;
      if (tty) {
        const width = Math.max(20, (out.columns ?? 100) - 1);
        out.write(`\r\x1b[2K${message.slice(0, width)}`);
        progressShown = true;
      } else {
        line('progress', event, message, fields);
      }
    },
    done: clear,
  };
}

/** A logger that records events, for tests. */
export function memoryLogger(): Logger & {
  events: Array<{ level: string; event: string; message: string }>;
} {
  const events: Array<{ level: string; event: string; message: string }> = [];
  const push = (level: string) => (event: string, message: string) =>
    void events.push({ level, event, message });
  return {
    events,
    info: push('info'),
    warn: push('warn'),
    error: push('error'),
    progress: push('progress'),
    done: () => {},
  };
}

/** One sentence for any error: ours carry their own; others get a generic prefix (no stack trace). */
export function describeError(err: unknown): string {
  if (isCrmBackupError(err)) return err.message;
  if (err instanceof Error) return `Unexpected error: ${err.message.split('\n')[0]}`;
  return `Unexpected error: ${String(err)}`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
