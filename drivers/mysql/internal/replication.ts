/**
 * One binlog replication session on a mysql2 connection: mysql2 does the handshake and the
 * authentication, and a Command of ours (mysql2's own `binlogDump` decodes nothing useful) sends
 * COM_BINLOG_DUMP and hands every event's raw bytes, without the protocol's leading 0x00 OK byte,
 * to the change log, which decodes them (binlog/decoder.ts).
 *
 * Before the dump the session declares what it understands, as a replica does:
 *   @master_binlog_checksum = @@global.binlog_checksum   events keep their CRC32 (the decoder checks it)
 *   @mariadb_slave_capability = 4                         MariaDB sends GTID events, not fake BEGINs
 *   @master_heartbeat_period = <ns>                       a HEARTBEAT whenever nothing was sent that long
 * and registers (COM_REGISTER_SLAVE) under a server id derived from the source name
 * (`replicaServerId`), so two streams of one server never share one (the server would drop the
 * older connection), and never the server's own id.
 *
 * Packets: mysql2's packet parser joins a payload split into 16 MiB packets before handing it to
 * the command, so an event of any size arrives whole. An EOF packet ends the dump (the server
 * shuts down); an ERR packet ends it with the server's error (1236 for a binlog that is gone:
 * change-log-session.ts turns it into a sentence with the gap's boundaries).
 *
 * Flow control: received events queue here until the change log takes them; above
 * QUEUE_HIGH_BYTES the socket is paused (TCP then holds the server back), below QUEUE_LOW_BYTES
 * it is resumed, so memory stays bounded however far behind the consumer is.
 */
import mysql from 'mysql2';
import { Command, commandPacket, type ConnectionInternals, type PacketLike } from './mysql2-internals.js';

const QUEUE_HIGH_BYTES = 16 * 1024 * 1024;
const QUEUE_LOW_BYTES = 4 * 1024 * 1024;
/** COM_BINLOG_DUMP flags: 0 blocks at the end of the binlog (BINLOG_DUMP_NON_BLOCK would end it). */
const DUMP_BLOCKING = 0;
/** MariaDB's MARIA_SLAVE_CAPABILITY_GTID: the replica understands GTID events. */
const MARIADB_CAPABILITY_GTID = 4;

// (mysql2's own BinlogDump and RegisterSlave packet encoders fail on mysql2 3.x: writeString
// without an encoding, so the command packets are built here)
const COM_BINLOG_DUMP = 0x12;
const COM_REGISTER_SLAVE = 0x15;

/** COM_BINLOG_DUMP: position (4 bytes), flags (2), server id (4), file name (rest). */
function dumpPacket(file: string, position: number, serverId: number): unknown {
  const name = Buffer.from(file, 'utf8');
  const p = Buffer.alloc(11 + name.length);
  p[0] = COM_BINLOG_DUMP;
  p.writeUInt32LE(position, 1);
  p.writeUInt16LE(DUMP_BLOCKING, 5);
  p.writeUInt32LE(serverId, 7);
  name.copy(p, 11);
  return commandPacket(p);
}

/** COM_REGISTER_SLAVE: server id, then empty host, user and password, port 0, rank 0, master id 0. */
function registerPacket(serverId: number): unknown {
  const p = Buffer.alloc(18);
  p[0] = COM_REGISTER_SLAVE;
  p.writeUInt32LE(serverId, 1);
  return commandPacket(p);
}

/** A server id for this stream's replica registration: from the source name, never `serverOwnId`. */
export function replicaServerId(sourceName: string, serverOwnId: number): number {
  let h = 0x811c9dc5; // FNV-1a
  for (const ch of Buffer.from(sourceName, 'utf8')) h = Math.imul(h ^ ch, 0x01000193) >>> 0;
  // the upper half of the 32-bit range: administrators number real replicas from 1 upwards
  let id = 0x80000000 + (h % 0x7ffffffe);
  if (id === serverOwnId) id += 1;
  return id;
}

/** COM_REGISTER_SLAVE; its OK ends it (an ERR reaches the 'error' listener). */
class RegisterCommand extends Command {
  constructor(
    private readonly serverId: number,
    private readonly done: () => void,
  ) {
    super();
  }

  start(_packet: unknown, connection: ConnectionInternals): unknown {
    connection.writePacket(registerPacket(this.serverId));
    return RegisterCommand.prototype.ok;
  }

  ok(): null {
    this.done();
    return null;
  }
}

class BinlogStreamCommand extends Command {
  constructor(
    private readonly opts: { file: string; position: number; serverId: number },
    private readonly onEvent: (raw: Buffer) => void,
    private readonly onEof: () => void,
  ) {
    super();
  }

  start(_packet: unknown, connection: ConnectionInternals): unknown {
    connection.writePacket(dumpPacket(this.opts.file, this.opts.position, this.opts.serverId));
    return BinlogStreamCommand.prototype.data;
  }

  data(packet: PacketLike): unknown {
    if (packet.isEOF()) {
      this.onEof();
      return null;
    }
    // the packet's buffer is mysql2's read buffer, reused: keep a copy of the event
    this.onEvent(Buffer.from(packet.buffer.subarray(packet.offset + 1, packet.end)));
    return BinlogStreamCommand.prototype.data;
  }
}

export type SessionItem = Buffer | { readonly end: true; readonly error?: unknown };

export interface DumpStart {
  readonly file: string;
  readonly position: number;
  readonly serverId: number;
  readonly heartbeatMs: number;
}

export class BinlogSession {
  private readonly queue: SessionItem[] = [];
  private queuedBytes = 0;
  private paused = false;
  private waiter: (() => void) | undefined;
  private ended = false;

  private constructor(private readonly conn: mysql.Connection) {}

  /** Connects, declares the replica's capabilities, registers and starts the dump at `start`. */
  static async start(params: mysql.ConnectionOptions, start: DumpStart): Promise<BinlogSession> {
    const conn = mysql.createConnection({ ...params, multipleStatements: false });
    const session = new BinlogSession(conn);
    conn.on('error', (err) => session.end(err));
    try {
      const q = (sql: string): Promise<void> =>
        new Promise((resolve, reject) => conn.query(sql, (err) => (err ? reject(err) : resolve())));
      await q('SET @master_binlog_checksum = @@global.binlog_checksum');
      await q('SET @source_binlog_checksum = @@global.binlog_checksum');
      await q(`SET @mariadb_slave_capability = ${MARIADB_CAPABILITY_GTID}`);
      const ns = BigInt(Math.max(1, start.heartbeatMs)) * 1_000_000n;
      await q(`SET @master_heartbeat_period = ${ns}`);
      await q(`SET @source_heartbeat_period = ${ns}`);
      const c = conn as unknown as ConnectionInternals;
      await new Promise<void>((resolve, reject) => {
        const reg = new RegisterCommand(start.serverId, resolve);
        reg.on('error', reject);
        c.addCommand(reg);
      });
      const cmd = new BinlogStreamCommand(
        { file: start.file, position: start.position, serverId: start.serverId },
        (raw) => session.push(raw),
        () => session.end(undefined),
      );
      cmd.on('error', (err) => session.end(err));
      c.addCommand(cmd);
      return session;
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  private push(raw: Buffer): void {
    if (this.ended) return;
    this.queue.push(raw);
    this.queuedBytes += raw.length;
    if (!this.paused && this.queuedBytes > QUEUE_HIGH_BYTES) {
      this.paused = true;
      (this.conn as unknown as ConnectionInternals).pause();
    }
    this.wake();
  }

  private end(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.queue.push(error === undefined ? { end: true } : { end: true, error });
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next event's bytes, the end of the session, or undefined after `timeoutMs` of silence. */
  async next(timeoutMs: number): Promise<SessionItem | undefined> {
    if (!this.queue.length) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.waiter = undefined;
          resolve();
        }, timeoutMs);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    const item = this.queue.shift();
    if (Buffer.isBuffer(item)) {
      this.queuedBytes -= item.length;
      if (this.paused && this.queuedBytes < QUEUE_LOW_BYTES) {
        this.paused = false;
        (this.conn as unknown as ConnectionInternals).resume();
      }
    }
    return item;
  }

  /** Bytes received and not yet taken (bounded by flow control). */
  get pending(): number {
    return this.queuedBytes;
  }

  async close(): Promise<void> {
    this.end(undefined);
    const c = this.conn as unknown as ConnectionInternals;
    c.destroy();
    // mysql2's destroy only half-closes the socket (FIN); the server's dump thread would keep
    // writing to it and stay registered: close it both ways
    c.stream?.destroy();
  }
}
