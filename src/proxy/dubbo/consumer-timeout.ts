// The deadline a Dubbo consumer sends with each call (its `timeout` attachment), read the way each
// client writes it.

/**
 * A consumer's `timeout` attachment in ms, capped, or undefined when absent or not a positive
 * number. Java Dubbo sends it as a string of milliseconds (`String.valueOf(timeout)`);
 * apache-dubbo-js sends the number of seconds it was configured with, as a hessian number. The
 * type tells them apart: a string is milliseconds, a number is seconds.
 */
export function consumerTimeout(value: unknown, max: number): number | undefined {
  const ms = typeof value === 'string' ? Number(value) : typeof value === 'number' ? value * 1000 : NaN;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, max) : undefined;
}
