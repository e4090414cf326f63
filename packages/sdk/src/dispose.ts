/** `await using` needs `Symbol.asyncDispose`, which Node 20 does not define. */
const symbols = Symbol as { asyncDispose?: symbol };
symbols.asyncDispose ??= Symbol.for('Symbol.asyncDispose');

export const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose;
