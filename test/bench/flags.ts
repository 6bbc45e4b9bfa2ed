/** Command-line flags shared by the benches. */

/** A whole-number flag of at least `min`, or an error naming the flag. */
export function intFlag(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${v}`);
  return n;
}
