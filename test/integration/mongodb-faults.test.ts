/**
 * MongoDB faults against the replica set CRMB_TEST_MONGODB_URL names; with no such server nothing
 * here runs (the global setup prints the one line saying so):
 *  - a lost resume point: a change log opened from a position older than the oplog's first entry
 *    (`1.1`) continues from the present and says so in the sentence the README promises;
 *  - `crm-backup stream` killed with SIGKILL and started again loses nothing: a restore to a
 *    time after both runs equals the source byte for byte;
 *  - `replSetStepDown` under a running stream: the stream reconnects and loses nothing (a
 *    single-node replica set refuses to step down: the case is then skipped, saying why).
 * NOT RUN on the machine this was written on: no MongoDB server exists there.
 */
import { Int32 } from 'mongodb';
import { parseMongoUrl } from '../../drivers/mongodb/internal/connection.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeLogStatus } from '../../src/driver/source-driver.js';
import type { DriverModule } from '../../src/driver/driver-module.js';
import { registry } from '../../src/driver/registry.js';
import { waitFor } from '../harness/util.js';
import { mongoDatabaseUrl, mongoFactory, mongoTestUrl } from '../conformance/mongodb.factory.js';
import { rawState, withMongo } from '../helpers/mongodb.js';
import {
  restoreInto,
  startStream,
  streamProcess,
  takeSnapshot,
  tempRepo,
  type TempRepo,
} from '../helpers/pitr.js';

let seq = 0;

describe.skipIf(!mongoTestUrl)('MongoDB faults (real server)', () => {
  let driver: DriverModule;
  const repos: TempRepo[] = [];
  const dbs: string[] = [];
  const fresh = (label: string): string => {
    const n = `fault_${label}_${process.pid}_${++seq}`;
    dbs.push(n);
    return mongoDatabaseUrl(n);
  };
  const repo = async (): Promise<TempRepo> => {
    const tr = await tempRepo();
    repos.push(tr);
    return tr;
  };
  const insert = (url: string, from: number, to: number): Promise<unknown> =>
    withMongo(url, (db) =>
      db
        .collection('contacts')
        .insertMany(
          Array.from({ length: to - from + 1 }, (_, k) => ({ _id: new Int32(from + k) })) as never[],
        ),
    );

  beforeAll(async () => {
    driver = await registry.forUrl(mongoTestUrl);
  });
  afterAll(async () => {
    for (const n of dbs)
      await withMongo(mongoDatabaseUrl(n), (db) => db.dropDatabase()).catch(() => undefined);
    for (const tr of repos) await tr.dispose();
  });

  it('a resume point older than the oplog (1.1) continues from the present, saying what is lost', async () => {
    const src = fresh('lost');
    await insert(src, 1, 1);
    const source = await driver.openSource(src, { name: 'lost' });
    const said: ChangeLogStatus[] = [];
    const log = await source.openChangeLog('1.1', { onStatus: (s) => said.push(s) });
    try {
      expect(driver.comparePositions(log.from, '1.1')).toBeGreaterThan(0);
      const display = parseMongoUrl(src).display;
      expect(said.map((s) => s.message).filter(Boolean)).toEqual([
        `${display} no longer holds the stored resume point 1.1 in its oplog (ChangeStreamHistoryLost): the changes between it and ${log.from}, where the log continues, are lost to the log; restores into that gap will be refused (keep a longer oplog window than the stream may be stopped).`,
      ]);
    } finally {
      await log.close();
      await source.close();
    }
  });

  it('a stream killed with SIGKILL and started again loses nothing', async () => {
    const src = fresh('kill');
    const tr = await repo();
    await insert(src, 1, 10);
    const first = streamProcess(src, tr.dir, 'kill');
    await first.started;
    await takeSnapshot(tr.repo, driver, src, 'kill');
    await insert(src, 11, 200);
    await waitFor(() => first.transactionsSeen() > 0, 'the first run to store a transaction', 90_000);
    first.child.kill('SIGKILL');
    await first.exited;
    await insert(src, 201, 300);
    const second = startStream(tr.repo, driver, src, 'kill', 1);
    await second.started;
    await insert(src, 301, 310);
    const at = await mongoFactory.serverNowMicros(src);
    await second.waitCovered(at, 120_000);
    await second.stop();
    const dst = fresh('kill_dst');
    await restoreInto(tr.repo, driver, 'kill', { kind: 'time', micros: at }, dst);
    expect(await rawState(dst)).toEqual(await rawState(src));
  });

  it('a primary step-down under the stream loses nothing', async (ctx) => {
    const src = fresh('stepdown');
    const tr = await repo();
    await insert(src, 1, 10);
    const stream = startStream(tr.repo, driver, src, 'stepdown', 1);
    await stream.started;
    await takeSnapshot(tr.repo, driver, src, 'stepdown');
    await insert(src, 11, 50);
    const refused = await withMongo(src, (db) =>
      db
        .admin()
        .command({ replSetStepDown: 10, secondaryCatchUpPeriodSecs: 5 })
        .then(() => undefined)
        .catch((err: Error) => err.message),
    );
    if (refused && !/connection|closed|not primary/i.test(refused)) {
      await stream.stop();
      console.log(
        `MongoDB step-down case skipped: the server refused replSetStepDown (${refused}); a single-node replica set has no secondary to hand over to.`,
      );
      ctx.skip();
      return;
    }
    // writes go on once a primary is elected again
    await waitFor(
      () =>
        insert(src, 51, 60).then(
          () => true,
          () => false,
        ),
      'a primary after the step-down',
      60_000,
    );
    const at = await mongoFactory.serverNowMicros(src);
    await stream.waitCovered(at, 120_000);
    await stream.stop();
    const dst = fresh('stepdown_dst');
    await restoreInto(tr.repo, driver, 'stepdown', { kind: 'time', micros: at }, dst);
    expect(await rawState(dst)).toEqual(await rawState(src));
  });
});
