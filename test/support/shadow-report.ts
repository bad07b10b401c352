// Reading the sidecar's side-by-side report (GET /shadow) in tests.
import { SidecarChild, adminJson } from './sidecar-child';

export interface ShadowRow {
  protocol: string;
  service: string;
  method: string;
  mirrored: number;
  compared: number;
  matched: number;
  mismatched: number;
  mismatchRate: number | null;
  primaryErrors: number;
  shadowErrors: number;
  tooLarge: number;
  dropped: number;
  noTarget: number;
  writesNotMirrored: number;
  lastError?: string;
  samples: Array<{ at: string; path: string; primary: string; shadow: string }>;
}

/** The report's row of one service and method, or undefined when it has none yet. */
export async function shadowRow(sidecar: SidecarChild, service: string, method: string): Promise<ShadowRow | undefined> {
  const report = (await adminJson(sidecar, '/shadow')) as { methods: ShadowRow[] };
  return report.methods.find((r) => r.service === service && r.method === method);
}
