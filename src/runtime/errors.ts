/** A model file that is missing, unreadable or does not fit what the pipeline needs. The message says which. */
export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelError';
  }
}
