/**
 * Child process for the crash test: opens the repository at argv[2], writes a large deterministic
 * stream and commits a snapshot. The test SIGKILLs it at random points.
 *   node --import tsx test/unit/repository/crash-writer.ts <folder> <MiB> <seed>
 */
import { LocalBackend } from '../../../src/storage/index.js';
import { openRepository } from '../../../src/repository/index.js';
import { Secret } from '../../../src/util/redact.js';
import { snapshotOf } from './fixtures.js';
import { randomBytesSeeded } from './helpers.js';

const [dir, mib, seed] = process.argv.slice(2);
const repo = await openRepository(await LocalBackend.open(dir as string), new Secret(process.env['CRMB_TEST_PASSWORD'] ?? ''), { workers: 2 });
async function* data(): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < Number(mib); i++) yield randomBytesSeeded(1 << 20, Number(seed) * 100_000 + i + 1);
}
const ref = await repo.writeStream(data(), { onProgress: (b) => process.stdout.write(`progress ${b}\n`) });
const id = await repo.commitSnapshot(snapshotOf('crash', new Date(), { 'public.big': ref }, { chunks: [], sizes: [], bytes: 0 }));
process.stdout.write(`committed ${id}\n`);
await repo.close();
