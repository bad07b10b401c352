// One way to turn a zod failure into a MeshBridgeError for the planner's input files: every bad
// key with its path, the first one as `where`.
import type { z } from 'zod';
import { ErrorCode, MeshBridgeError } from '../errors';

/** Parses `raw` with `schema` or throws `code` listing every problem as `key.path: message`. */
export function parseOrThrow<S extends z.ZodType>(schema: S, raw: unknown, code: ErrorCode, what: string): z.output<S> {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues;
  const problems = issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(top level)'}: ${issue.message}`);
  throw new MeshBridgeError(code, `invalid ${what}:\n  ${problems.join('\n  ')}`, { where: issues[0].path.join('.'), value: problems });
}
