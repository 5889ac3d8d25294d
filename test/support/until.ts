/** How long a wait may last before a test gives up: a hang guard, not a bound on promptness. */
export const HANG_GUARD_MS = 10_000;

/** Waits until `condition` holds, looking every 10 ms; throws, naming `what`, once `ms` have gone by. */
export async function until(what: string, condition: () => boolean | Promise<boolean>, ms = HANG_GUARD_MS): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`still not so after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
