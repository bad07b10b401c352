// The ignore rules' JSON paths (`$.timestamp`, `$.items[*].id`, `$..traceId`): parsed once from
// config, matched against the path of a value being compared. Only what ignore rules need: member
// names, indexes, the `*` wildcard and `..` (at any depth); no filters or slices.
export type PathSegment = string | number;

type Step = { kind: 'name'; name: string } | { kind: 'index'; index: number } | { kind: 'any' } | { kind: 'descend' };

/** A compiled JSON path; `matches` is true for the path it names and for nothing shorter. */
export class JsonPath {
  private constructor(
    readonly text: string,
    private readonly steps: readonly Step[],
  ) {}

  /** Parses `$...`; returns an error message instead when the text is not a path this supports. */
  static parse(text: string): JsonPath | string {
    if (!text.startsWith('$')) return `a JSON path starts with $, got ${JSON.stringify(text)}`;
    const steps: Step[] = [];
    let i = 1;
    while (i < text.length) {
      if (text.startsWith('..', i)) {
        steps.push({ kind: 'descend' });
        i += 2;
        const name = /^(\*|[^.[\]]+)/.exec(text.slice(i));
        if (name === null) return `".." must be followed by a name or * in ${JSON.stringify(text)}`;
        steps.push(name[1] === '*' ? { kind: 'any' } : { kind: 'name', name: name[1] });
        i += name[1].length;
      } else if (text[i] === '.') {
        const name = /^(\*|[^.[\]]+)/.exec(text.slice(i + 1));
        if (name === null) return `"." must be followed by a name or * in ${JSON.stringify(text)}`;
        steps.push(name[1] === '*' ? { kind: 'any' } : { kind: 'name', name: name[1] });
        i += 1 + name[1].length;
      } else if (text[i] === '[') {
        const bracket = /^\[(\*|\d+|'([^']*)'|"([^"]*)")\]/.exec(text.slice(i));
        if (bracket === null) return `expected [n], [*] or ['name'] at character ${i} of ${JSON.stringify(text)}`;
        if (bracket[1] === '*') steps.push({ kind: 'any' });
        else if (/^\d+$/.test(bracket[1])) steps.push({ kind: 'index', index: Number(bracket[1]) });
        else steps.push({ kind: 'name', name: bracket[2] ?? bracket[3] });
        i += bracket[0].length;
      } else return `unexpected ${JSON.stringify(text[i])} at character ${i} of ${JSON.stringify(text)}`;
    }
    return new JsonPath(text, steps);
  }

  matches(path: readonly PathSegment[]): boolean {
    return this.match(0, path, 0);
  }

  private match(s: number, path: readonly PathSegment[], p: number): boolean {
    if (s === this.steps.length) return p === path.length;
    const step = this.steps[s];
    if (step.kind === 'descend') {
      for (let from = p; from < path.length; from++) if (this.match(s + 1, path, from)) return true;
      return false;
    }
    if (p === path.length) return false;
    const segment = path[p];
    const ok = step.kind === 'any' || (step.kind === 'name' ? segment === step.name : segment === step.index);
    return ok && this.match(s + 1, path, p + 1);
  }
}

/** `$.a[0].b` for a path, as samples and reports print it. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '$';
  for (const segment of path) out += typeof segment === 'number' ? `[${segment}]` : /^[A-Za-z_$][\w$-]*$/.test(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`;
  return out;
}
