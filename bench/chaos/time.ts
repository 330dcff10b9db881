export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
}

/** Polls `condition` every `intervalMs` for up to `ms`; answers whether it came true. */
export async function waitFor (condition: () => boolean | Promise<boolean>, ms: number, intervalMs = 20): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await condition()) return true
    await sleep(intervalMs)
  }
  return await condition()
}
