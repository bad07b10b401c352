// One argument of a Dubbo request as a filter key (hot-parameter limits): found by skipping the
// arguments before it with the routing scanner, never decoding them; read only when it is a string
// or a number (int, long, double). Anything else, or bytes too broken to skip, gives undefined: a
// filter must not fail a call the upstream may still read.
import { CodecError } from '../../errors';
import { HessianReader, HessianScanner, RoutingView, countParameters } from '../../dubbo-codec';

function isIntCode(code: number): boolean {
  return (code >= 0x80 && code <= 0xd7) || code === 0x49;
}

function isLongOrDoubleCode(code: number): boolean {
  return (code >= 0xd8 && code <= 0xff) || (code >= 0x38 && code <= 0x3f) || code === 0x59 || code === 0x4c || code === 0x44 || (code >= 0x5b && code <= 0x5f);
}

/** Argument `index` (from 0) of the request whose body is `body`, when a string or a number. */
export function readArgumentKey(body: Buffer, view: RoutingView, index: number): string | number | undefined {
  if (!Number.isInteger(index) || index < 0 || index >= countParameters(view.parameterTypes)) return undefined;
  try {
    const scanner = new HessianScanner(body, view.argumentsOffset);
    for (let i = 0; i < index; i++) scanner.skipValue();
    const code = scanner.peek();
    if (code === 0x4e) return undefined; // null
    if (scanner.isStringStart(code)) return scanner.readString();
    if (isIntCode(code)) return scanner.readInt();
    if (!isLongOrDoubleCode(code)) return undefined;
    const value = new HessianReader(body, scanner.pos).read();
    // A long beyond 2^53 is a bigint: keyed by its decimal string.
    return typeof value === 'number' ? value : typeof value === 'bigint' ? value.toString() : undefined;
  } catch (err) {
    if (err instanceof CodecError) return undefined;
    throw err;
  }
}
