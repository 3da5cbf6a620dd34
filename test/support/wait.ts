/**
 * Polls `condition` until it holds, every `intervalMs`, for at most `timeoutMs`; rejects
 * with `what` in the message when it never does. The bounded replacement for a fixed
 * sleep: it returns as soon as the state is reached and fails loudly when it is not.
 */
export async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  { timeoutMs = 5000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
