import type { KnockStore } from "./types.js";

/** Receives each store call's name, duration in seconds and whether it resolved. */
export type StoreTimer = (operation: string, seconds: number, ok: boolean) => void;

/**
 * Wraps a store so every promise-returning method is timed, without the engine or the
 * store knowing. A Proxy rather than a class, so methods other branches add to
 * KnockStore are timed too without touching this file.
 */
export function timedStore<S extends KnockStore>(store: S, timer: StoreTimer): S {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      const cached = wrapped.get(property);
      if (cached !== undefined) return cached;
      const method = value as (...args: unknown[]) => unknown;
      const name = String(property);
      const timed = (...args: unknown[]): unknown => {
        const started = process.hrtime.bigint();
        const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
        const result = method.apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.then(
          (resolved: unknown) => {
            timer(name, seconds(), true);
            return resolved;
          },
          (error: unknown) => {
            timer(name, seconds(), false);
            throw error;
          },
        );
      };
      wrapped.set(property, timed);
      return timed;
    },
  });
}
