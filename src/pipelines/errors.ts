/** A generate() option that is wrong (size, steps, names, ...): the caller's mistake, worded for the user. */
export class GenerateOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GenerateOptionsError';
  }
}
