// Runs the Java ground-truth programs in test/java/ against Debian's Caucho Hessian jar. The
// sources are compiled once per process into a temp dir; each run is one `java` child process.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const HESSIAN_JAR = process.env.HESSIAN_JAR ?? '/usr/share/java/hessian.jar';
const JAVA_SOURCES = resolve(__dirname, '..', 'java');

/** JDK 17 refuses Caucho's reflective access to JDK classes without these. */
const ADD_OPENS = ['java.lang', 'java.math', 'java.util'].flatMap((pkg) => [
  '--add-opens',
  `java.base/${pkg}=ALL-UNNAMED`,
]);

function onPath(cmd: string): boolean {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  return dirs.some((dir) => existsSync(join(dir, cmd)));
}

/**
 * Why Java cannot run here, or undefined when it can. Under CI a missing toolchain is an error,
 * never a skip: a ground-truth suite that silently skips proves nothing.
 */
export function javaUnavailable(): string | undefined {
  const missing: string[] = [];
  if (!onPath('javac')) missing.push('javac is not on PATH (install a JDK, e.g. openjdk-17-jdk-headless)');
  if (!onPath('java')) missing.push('java is not on PATH');
  if (!existsSync(HESSIAN_JAR)) missing.push(`${HESSIAN_JAR} is missing (apt-get install libhessian-java)`);
  if (missing.length === 0) return undefined;
  const reason = `Java Hessian ground truth unavailable: ${missing.join('; ')}`;
  if (process.env.CI) throw new Error(`${reason}. CI is set, so this is a failure, not a skip.`);
  return reason;
}

let compiled: Promise<string> | undefined;
let classesDir: string | undefined;

/** Compiles test/java/*.java once per process; resolves to the classes directory. */
export function compileJava(): Promise<string> {
  compiled ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mesh-bridge-java-'));
    classesDir = dir;
    const sources = readdirSync(JAVA_SOURCES)
      .filter((f) => f.endsWith('.java'))
      .map((f) => join(JAVA_SOURCES, f));
    try {
      await run('javac', ['-nowarn', '-encoding', 'UTF-8', '-d', dir, '-cp', HESSIAN_JAR, ...sources]);
    } catch (err) {
      const e = err as Error & { stderr?: string };
      throw new Error(`javac failed on ${sources.join(' ')}:\n${e.stderr ?? e.message}`, { cause: err });
    }
    return dir;
  })();
  return compiled;
}

/** Runs `java <mainClass> ...args` with the compiled classes and the Hessian jar; returns stdout. */
export async function runJava(mainClass: string, args: string[]): Promise<string> {
  const classes = await compileJava();
  try {
    const { stdout } = await run(
      'java',
      [...ADD_OPENS, '-cp', `${classes}:${HESSIAN_JAR}`, mainClass, ...args],
      { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
    );
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`java ${mainClass} ${args.join(' ')} failed:\n${e.stderr ?? e.message}`, { cause: err });
  }
}

/** Removes the compiled classes; call from afterAll. */
export function cleanupJava(): void {
  if (classesDir) rmSync(classesDir, { recursive: true, force: true });
  classesDir = undefined;
  compiled = undefined;
}
