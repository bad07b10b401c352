// Dubbo's READONLY event: a one-way event request whose data is the string "R", sent by a server
// that is shutting down to every connected client, which then sends it no new requests while
// those in flight finish (Dubbo's HeaderExchangeServer does this on a graceful close).
import { FLAG_EVENT, FLAG_REQUEST, FrameHeader, HEADER_LENGTH, MAGIC_HIGH, MAGIC_LOW } from '../../dubbo-codec/header';
import { Serialization } from '../../dubbo-codec/status';

/** hessian2 for the one-character string "R". */
const READONLY_BODY = [0x01, 0x52];

export function isReadonlyEvent(header: FrameHeader, body: Buffer): boolean {
  return header.isRequest && header.event && body.length === 2 && body[0] === READONLY_BODY[0] && body[1] === READONLY_BODY[1];
}

/** A READONLY event frame with the given request id. */
export function encodeReadonlyEvent(requestId: bigint): Buffer {
  const frame = Buffer.alloc(HEADER_LENGTH + READONLY_BODY.length);
  frame[0] = MAGIC_HIGH;
  frame[1] = MAGIC_LOW;
  frame[2] = FLAG_REQUEST | FLAG_EVENT | Serialization.HESSIAN2;
  frame.writeBigInt64BE(requestId, 4);
  frame.writeInt32BE(READONLY_BODY.length, 12);
  frame[16] = READONLY_BODY[0];
  frame[17] = READONLY_BODY[1];
  return frame;
}
