// `mesh-bridge decode [FILE|-]`: prints each Dubbo frame of a captured byte stream as one JSON
// line. Frames before a bad byte are printed; the error names its code and stream offset.
import { createReadStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { Command } from 'commander';
import { Frame, FrameDecoder, describeFrame } from '../../dubbo-codec';
import { MeshBridgeError, isMeshBridgeError } from '../../errors';
import { toJsonValue } from '../json-value';

export interface DecodeSummary {
  frames: number;
  /** Frames whose body could not be decoded; printed as error records, the stream went on. */
  badFrames: number;
  /** The error that stopped the stream (bad framing or a truncated last frame), if any. */
  fatal: MeshBridgeError | null;
}

export interface DecodeOptions {
  maxBodyLength?: number;
}

/** The stream offset of an error inside a frame's body, for bodies that report body offsets. */
function streamOffset(err: MeshBridgeError, frameOffset: number): number {
  return typeof err.where === 'number' ? frameOffset + 16 + err.where : frameOffset;
}

function errorRecord(err: MeshBridgeError, offset: number): string {
  return JSON.stringify({ error: { code: err.code, message: err.message, offset } });
}

/**
 * Decodes a stream of Dubbo frames, writing one JSON line per frame to `out`. A frame whose body
 * does not decode gets an error record and the stream goes on (its framing was sound); bad framing
 * stops the stream, since no later frame boundary can be trusted.
 */
export async function decodeStream(input: Readable, out: Writable, options: DecodeOptions = {}): Promise<DecodeSummary> {
  const decoder = new FrameDecoder({ maxBodyLength: options.maxBodyLength });
  const summary: DecodeSummary = { frames: 0, badFrames: 0, fatal: null };
  let pending = '';
  const onFrame = (frame: Frame): void => {
    summary.frames++;
    try {
      pending += JSON.stringify(toJsonValue(describeFrame(frame))) + '\n';
    } catch (err) {
      if (!isMeshBridgeError(err)) throw err;
      summary.badFrames++;
      pending += errorRecord(err, streamOffset(err, frame.offset)) + '\n';
    }
  };
  try {
    for await (const chunk of input) {
      decoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer), onFrame);
      if (pending !== '') {
        if (!out.write(pending)) await new Promise((resolve) => out.once('drain', resolve));
        pending = '';
      }
    }
    if (decoder.bufferedBytes > 0) {
      const start = decoder.position - decoder.bufferedBytes;
      throw new MeshBridgeError('DUBBO_TRUNCATED', `the stream ends inside the frame that starts at byte ${start} (${decoder.bufferedBytes} bytes of it read)`, {
        where: start,
      });
    }
  } catch (err) {
    if (!isMeshBridgeError(err)) throw err;
    summary.fatal = err;
  }
  if (pending !== '') out.write(pending);
  return summary;
}

export function decodeCommand(): Command {
  return new Command('decode')
    .description('print each Dubbo 2 frame of a captured byte stream as one JSON line')
    .argument('[file]', "a file of captured frames, or '-' for standard input", '-')
    .option('--max-body <bytes>', 'largest frame body accepted', (v) => Number.parseInt(v, 10), 8 * 1024 * 1024)
    .action(async (file: string, opts: { maxBody: number }) => {
      const input = file === '-' ? process.stdin : createReadStream(file);
      const summary = await decodeStream(input, process.stdout, { maxBodyLength: opts.maxBody });
      if (summary.fatal) {
        const err = summary.fatal;
        const at = typeof err.where === 'number' ? ` at byte ${err.where}` : '';
        process.stderr.write(`mesh-bridge decode: ${err.code}${at}: ${err.message} (${summary.frames} frames printed before it)\n`);
      } else if (summary.badFrames > 0) {
        process.stderr.write(`mesh-bridge decode: ${summary.badFrames} of ${summary.frames} frames had bodies that did not decode\n`);
      }
      if (summary.fatal || summary.badFrames > 0) process.exitCode = 1;
    });
}
