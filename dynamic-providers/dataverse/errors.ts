/**
 * The error every piece of the Dataverse client throws (transport, paging, writes), apart from
 * the AuthError of a refused token (auth.ts), which carries the same name.
 *
 * Serialized with the providers that use it: an Error subclass and a duck-typed check only.
 */

export class DataverseError extends Error {
  constructor(
    message: string,
    public readonly status: number,
    public readonly code?: string,
  ) {
    super(message);
    this.message = message; // see SyncError: needed in the serialized provider
    this.name = "DataverseError";
  }
}

/**
 * Duck-typed check: in the serialized provider, Pulumi's closure serializer rebuilds classes as
 * functions, and `instanceof` against Error subclasses is not reliable there.
 */
export function isDataverseError(e: unknown): e is DataverseError {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "DataverseError" && typeof (e as { status?: unknown }).status === "number";
}
