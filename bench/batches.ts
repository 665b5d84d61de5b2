// The benchmarks' load generator: items through fn with at most `concurrency` in flight.
export async function inBatches<T>(items: T[], concurrency: number, fn: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  }));
}
