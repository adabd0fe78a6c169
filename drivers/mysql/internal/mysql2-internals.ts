/**
 * The two mysql2 classes our own protocol commands build on. mysql2 exports neither its Command
 * base class nor its Packet class; both are stable since 1.x. A Command is a state machine: its
 * `start(packet, connection)` writes the command and returns the state that takes the next
 * packet; each state returns the next one, `null` ends the command. An ERR packet never reaches a
 * state: the base class emits it as 'error'.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface PacketLike {
  buffer: Buffer;
  /** The payload starts here (after the 4-byte header). */
  offset: number;
  end: number;
  isEOF(): boolean;
}

export interface MysqlCommand {
  on(event: 'error', listener: (err: Error) => void): this;
}

export interface ConnectionInternals {
  addCommand(cmd: MysqlCommand): void;
  writePacket(p: unknown): void;
  pause(): void;
  resume(): void;
  destroy(): void;
  stream?: { destroy(): void };
}

const require = createRequire(import.meta.url);
const mysql2Dir = dirname(require.resolve('mysql2'));

export const Command = require(join(mysql2Dir, 'lib/commands/command.js')) as new () => MysqlCommand;
const Packet = require(join(mysql2Dir, 'lib/packets/packet.js')) as new (
  id: number,
  buffer: Buffer,
  start: number,
  end: number,
) => unknown;

/** A command packet: 4 header bytes mysql2 fills in, then the payload. */
export function commandPacket(payload: Buffer): unknown {
  const buf = Buffer.concat([Buffer.alloc(4), payload]);
  return new Packet(0, buf, 0, buf.length);
}
