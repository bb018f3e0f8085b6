/**
 * Binds an object's prototype methods to it as own properties, so that they work detached
 * (`const { writeFile } = rfs`), through a Proxy, or inherited (`Object.create(rfs)`), as the
 * functions of Node's fs/promises module do.
 */
export function bindMethods(target: object, prototype: object): void {
  for (const name of [
    ...Object.getOwnPropertyNames(prototype),
    ...Object.getOwnPropertySymbols(prototype),
  ]) {
    if (name === 'constructor') continue;
    const descriptor = Object.getOwnPropertyDescriptor(prototype, name);
    if (descriptor === undefined || typeof descriptor.value !== 'function') continue;
    const method = descriptor.value as (...args: unknown[]) => unknown;
    Object.defineProperty(target, name, {
      value: method.bind(target),
      writable: true,
      configurable: true,
      enumerable: typeof name === 'string' && !name.startsWith('_'),
    });
  }
}
