// A class that stands in for one of undici's (FetchRequest for Request, LightResponse for
// Response): what it does not define itself is answered by a real undici object it makes on
// demand, and `instanceof` the undici class holds.

/**
 * Every getter and method of `real.prototype` that `standIn.prototype` does not define reads
 * from, or runs on, `target(this)`; then `standIn.prototype` inherits from `real.prototype`.
 */
export function answerTheRest<T extends object>(standIn: { prototype: T }, real: { prototype: object }, target: (self: T) => object): void {
  for (const name of Object.getOwnPropertyNames(real.prototype)) {
    if (name === 'constructor' || Object.hasOwn(standIn.prototype, name)) continue
    const descriptor = Object.getOwnPropertyDescriptor(real.prototype, name) as PropertyDescriptor
    if (descriptor.get !== undefined) {
      Object.defineProperty(standIn.prototype, name, {
        configurable: true,
        enumerable: descriptor.enumerable,
        get(this: T) {
          return Reflect.get(real.prototype, name, target(this))
        },
      })
    } else if (typeof descriptor.value === 'function') {
      const method = descriptor.value as (...args: unknown[]) => unknown
      Object.defineProperty(standIn.prototype, name, {
        configurable: true,
        writable: true,
        value(this: T, ...args: unknown[]) {
          return method.apply(target(this), args)
        },
      })
    }
  }
  Object.setPrototypeOf(standIn.prototype, real.prototype)
}

/**
 * undici 6 (Node.js 20) reads its own record of an object through the symbols `sample` has:
 * on `standIn.prototype` each answers with `target(this)`'s. (undici 7 has private fields.)
 */
export function answerRecordSymbols<T extends object>(standIn: { prototype: T }, sample: object, target: (self: T) => object): void {
  for (const symbol of Object.getOwnPropertySymbols(sample)) {
    Object.defineProperty(standIn.prototype, symbol, {
      configurable: true,
      get(this: T) {
        return (target(this) as Record<symbol, unknown>)[symbol]
      },
    })
  }
}
