/**
 * Minimal typed event emitter (mediasoup's EnhancedEventEmitter pattern): event maps are tuple-typed and
 * `safeEmit` never lets a throwing listener break the emitter's caller (e.g. a cascading close).
 */
import { EventEmitter } from "node:events";

export class TypedEmitter<E extends Record<string, unknown[]>> {
  readonly #ee = new EventEmitter();

  constructor() {
    this.#ee.setMaxListeners(Infinity);
  }

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#ee.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#ee.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#ee.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Emit; a listener that throws is reported on stderr (without data) and the remaining listeners still run. */
  safeEmit<K extends keyof E & string>(event: K, ...args: E[K]): void {
    for (const l of this.#ee.listeners(event)) {
      try {
        (l as (...a: E[K]) => void)(...args);
      } catch (err) {
        process.stderr.write(`listener for "${event}" threw: ${(err as Error)?.name ?? "Error"}\n`);
      }
    }
  }
}
