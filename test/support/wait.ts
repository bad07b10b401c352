// Polling for something a peer does asynchronously (a watch firing, a fetch arriving), with a
// deadline that names what was awaited when it passes.

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
