/**
 * The error every fcos-serve endpoint answers with: an HTTP status and the `{"kind", "value"}` body
 * that Cincinnati (the update graph) and FleetLock (reboot coordination) clients both decode.
 * Zincati reads `kind` and `value` of a FleetLock rejection and logs them; a graph error body it
 * only logs, so the status code is what it acts on.
 */
import type { FastifyReply } from 'fastify';
import { FcosError } from '../errors.ts';
import type { ProtocolError } from '../release/formats.ts';

/** A request fcos-serve refuses (4xx) or cannot answer (5xx), with the protocol's error kind. */
export class ProtocolErrorResponse extends FcosError {
  /** HTTP status code of the response. */
  readonly statusCode: number;
  /** Machine-friendly error kind (`missing_params`, `failed_lock` ...). */
  readonly kind: string;

  constructor(statusCode: number, kind: string, value: string, options: { cause?: unknown } = {}) {
    super(value, options);
    this.statusCode = statusCode;
    this.kind = kind;
  }

  /** The response body: `{kind, value}`. */
  toBody(): ProtocolError {
    return { kind: this.kind, value: this.message };
  }
}

/** Sends `error` as the protocol's JSON error response. */
export function sendProtocolError(reply: FastifyReply, error: ProtocolErrorResponse): FastifyReply {
  return reply.code(error.statusCode).type('application/json').send(error.toBody());
}
