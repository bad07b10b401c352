// Dubbo 2 response status codes: one table used by the codec, the proxies and the CLI.

export const DubboStatus = {
  OK: 20,
  CLIENT_TIMEOUT: 30,
  SERVER_TIMEOUT: 31,
  CHANNEL_INACTIVE: 35,
  BAD_REQUEST: 40,
  BAD_RESPONSE: 50,
  SERVICE_NOT_FOUND: 60,
  SERVICE_ERROR: 70,
  SERVER_ERROR: 80,
  CLIENT_ERROR: 90,
  SERVER_THREADPOOL_EXHAUSTED_ERROR: 100,
} as const;

export type DubboStatusName = keyof typeof DubboStatus;

const NAMES = new Map<number, DubboStatusName>(
  (Object.keys(DubboStatus) as DubboStatusName[]).map((name) => [DubboStatus[name], name]),
);

/** The name of a status byte, or `UNKNOWN_<n>` for a value Dubbo does not define. */
export function statusName(status: number): string {
  return NAMES.get(status) ?? `UNKNOWN_${status}`;
}

/** Serialization ids of the Dubbo header's low five flag bits. Only hessian2 bodies are decoded. */
export const Serialization = {
  HESSIAN2: 2,
  JAVA: 3,
  COMPACTED_JAVA: 4,
  FASTJSON: 6,
  NATIVE_JAVA: 7,
  KRYO: 8,
  FST: 9,
  NATIVE_HESSIAN: 10,
  PROTOSTUFF: 12,
  AVRO: 11,
  GSON: 16,
  PROTOBUF_JSON: 21,
  PROTOBUF: 22,
  FASTJSON2: 23,
} as const;

const SERIALIZATION_NAMES = new Map<number, string>(
  Object.entries(Serialization).map(([name, id]) => [id, name.toLowerCase()]),
);

export function serializationName(id: number): string {
  return SERIALIZATION_NAMES.get(id) ?? `unknown-${id}`;
}
