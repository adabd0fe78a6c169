/** The shape every throwaway server launcher returns. */
export interface ThrowawayServer {
  /** Connection URL without password, e.g. `postgres://postgres@127.0.0.1:41234/postgres`. */
  readonly url: string;
  readonly port: number;
  /** The temp folder holding data, socket and log; removed by `stop()`. Empty for an external server. */
  readonly dataDir: string;
  /** Server process id (process-group leader), undefined when external or stopped. */
  readonly pid: number | undefined;
  /** Stops the server process and starts it again on the same port and data folder. */
  restart(): Promise<void>;
  /** Kills the server (whole process group) and removes its temp folder; idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Milliseconds to wait for the server to accept connections (default 60 s). */
  readonly timeoutMs?: number;
  /** Use this external server instead of starting one (default: the CRMB_TEST_*_URL env var). */
  readonly externalUrl?: string;
  /** Binary folder (default: env CRMB_PG_BINDIR / CRMB_MARIADB_BINDIR, then the Debian path). */
  readonly binDir?: string;
  /** Extra server settings, name -> value. */
  readonly settings?: Readonly<Record<string, string>>;
}

/** An external server the harness did not start: restart is impossible, stop is a no-op. */
export function externalServer(url: string): ThrowawayServer {
  const port = Number(new URL(url).port || 0);
  return {
    url,
    port,
    dataDir: '',
    pid: undefined,
    restart: () =>
      Promise.reject(
        new Error(
          'cannot restart an external server given by URL; use a harness-started server for this test.',
        ),
      ),
    stop: () => Promise.resolve(),
  };
}
