/**
 * Barriers for tests of concurrency: an emulator holds its answers, the test waits here until the
 * requests it expects have arrived, then releases them. Whether a client sent requests side by side
 * is then a count, not a race against latency on a loaded machine.
 */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  for (const until = Date.now() + timeoutMs; !condition(); ) {
    if (Date.now() > until) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
