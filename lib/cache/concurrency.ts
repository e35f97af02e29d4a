/**
 * Bounded parallelism for many small file operations (hashing or linking the files of a tree).
 */

/**
 * Runs `task` on every item with at most `limit` running at once; results keep the input order.
 * After a failure no new task starts, and the first error is thrown once running tasks settle
 * (so that a caller cleaning up after the error does not race with them).
 */
export async function mapWithLimit<Item, Result>(
  items: readonly Item[],
  limit: number,
  task: (item: Item, index: number) => Promise<Result>,
): Promise<Result[]> {
  const results = new Array<Result>(items.length);
  let next = 0;
  let failed = false;
  // Each worker takes the next unclaimed item until none is left or a task has failed.
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        results[index] = await task(items[index]!, index);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  const outcomes = await Promise.allSettled(workers);
  const rejection = outcomes.find((outcome) => outcome.status === 'rejected');
  if (rejection) throw rejection.reason;
  return results;
}
