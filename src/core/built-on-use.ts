/**
 * A table of named things that are costly to build (model sampling presets, lab testbeds): each is built on
 * first use and then shared, and an unknown name is a RangeError that lists the valid ones.
 */
export interface BuiltOnUse<T> {
  /** The names, in the table's order. */
  readonly names: readonly string[];
  description(name: string): string | undefined;
  /** The thing called `name`, built on the first call. */
  get(name: string): T;
}

/** @param kind what the things are, for the error message ("model" gives `unknown model "x"; valid models: ...`). */
export function builtOnUse<T>(kind: string, builders: Readonly<Record<string, { description: string; build: () => T }>>): BuiltOnUse<T> {
  const names = Object.keys(builders);
  const cache = new Map<string, T>();
  return {
    names,
    description: (name) => builders[name]?.description,
    get(name) {
      const builder = Object.prototype.hasOwnProperty.call(builders, name) ? builders[name] : undefined;
      if (!builder) throw new RangeError(`unknown ${kind} "${name}"; valid ${kind}s: ${names.join(', ')}`);
      let built = cache.get(name);
      if (!built) {
        built = builder.build();
        cache.set(name, built);
      }
      return built;
    },
  };
}
