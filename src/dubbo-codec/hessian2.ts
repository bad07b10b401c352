// The hessian2 value layer of the codec: a thin, typed face over hessian.js. Everything in
// mesh-bridge that reads or writes a hessian2 value goes through here, so fixes to hessian.js
// (types it reads wrongly or slowly) live in one place.
import { CodecError, preview } from '../errors';

// hessian.js ships no types; this is the part of its API we use.
interface HessianDecoder {
  read(withType?: boolean): unknown;
  readString(): string;
  position(pos?: number): number;
}
interface HessianEncoder {
  write(value: unknown): HessianEncoder;
  writeString(value: string): HessianEncoder;
  writeNull(): HessianEncoder;
  reset(): HessianEncoder;
  get(): Buffer;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const hessian: any = require('hessian.js');

/** Reads consecutive hessian2 values from one buffer, sharing class and type references. */
export class HessianReader {
  private readonly decoder: HessianDecoder;

  constructor(buf: Buffer, offset = 0) {
    this.decoder = new hessian.DecoderV2(buf) as HessianDecoder;
    if (offset !== 0) this.decoder.position(offset);
  }

  /** Byte offset of the next value. */
  get offset(): number {
    return this.decoder.position();
  }

  set offset(value: number) {
    this.decoder.position(value);
  }

  read(): unknown {
    const at = this.offset;
    try {
      return this.decoder.read(false);
    } catch (err) {
      throw new CodecError('HESSIAN_DECODE', `cannot decode hessian2 value at byte ${at}: ${(err as Error).message}`, {
        where: at,
        cause: err,
      });
    }
  }

  readString(): string {
    const value = this.read();
    if (typeof value !== 'string') {
      throw new CodecError('HESSIAN_DECODE', `expected a hessian2 string, got ${preview(value)}`, {
        value,
        where: this.offset,
      });
    }
    return value;
  }
}

/** Writes consecutive hessian2 values into one buffer, sharing class and type references. */
export class HessianWriter {
  private readonly encoder: HessianEncoder = new hessian.EncoderV2({ size: 1024 });

  write(value: unknown): this {
    try {
      this.encoder.write(value);
    } catch (err) {
      throw new CodecError('HESSIAN_ENCODE', `cannot encode ${preview(value)} as hessian2: ${(err as Error).message}`, {
        value,
        cause: err,
      });
    }
    return this;
  }

  writeString(value: string): this {
    this.encoder.writeString(value);
    return this;
  }

  toBuffer(): Buffer {
    return this.encoder.get();
  }
}

export function decodeValue(buf: Buffer): unknown {
  return new HessianReader(buf).read();
}

export function encodeValue(value: unknown): Buffer {
  return new HessianWriter().write(value).toBuffer();
}
