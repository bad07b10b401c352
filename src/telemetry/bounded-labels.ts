// Label values only from bounded sets: a label fed by names from requests or registrants (a service
// a caller invented, a metadata key) would grow one Prometheus series per name. Values that are not
// known, or beyond the bound, are folded into `other`.

export const OTHER_LABEL = 'other';

export class BoundedLabels {
  private readonly admitted = new Set<string>();

  constructor(
    /** Whether a value is one worth its own series (e.g. a service the catalog or the config knows). */
    private readonly isKnown: (value: string) => boolean,
    readonly maxValues = 2000,
  ) {}

  /** The label value to use for `value`: itself when known and within the bound, else `other`. */
  of(value: string): string {
    if (this.admitted.has(value)) return value;
    if (this.admitted.size >= this.maxValues || !this.isKnown(value)) return OTHER_LABEL;
    this.admitted.add(value);
    return value;
  }
}
