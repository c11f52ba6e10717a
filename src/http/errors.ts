import type { FastifyError, FastifyInstance } from 'fastify';
import { ErrorCode, HeadroomError } from '../errors/index.ts';

/** Fastify's own error codes mapped to headroom's stable codes. */
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ErrorCode.unsupportedMediaType,
  FST_ERR_CTP_BODY_TOO_LARGE: ErrorCode.payloadTooLarge,
  FST_ERR_CTP_EMPTY_JSON_BODY: ErrorCode.badRequest,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ErrorCode.badRequest,
  FST_ERR_VALIDATION: ErrorCode.badRequest,
};

/** The one error handler: every error body is `{ code, message, ...details }`. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | HeadroomError, request, reply) => {
    if (error instanceof HeadroomError) {
      const retryAfter = error.details?.['retryAfterSeconds'];
      if (typeof retryAfter === 'number') void reply.header('retry-after', String(retryAfter));
      // A 503 is usually load or an outage the client retries through; a refused query needs an operator.
      if ((error.statusCode >= 500 && error.statusCode !== 503) || error.code === ErrorCode.storeQuery)
        request.log.error({ err: error }, error.message);
      return reply
        .status(error.statusCode)
        .send({ code: error.code, message: error.message, ...error.details });
    }
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
    const code =
      (error.code && FASTIFY_CODES[error.code]) ??
      (status === 500 ? ErrorCode.internal : ErrorCode.badRequest);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    let message = status === 500 ? 'internal error' : error.message;
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      message = `unsupported Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')}: expected application/x-protobuf or application/json`;
    } else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      message = `request body is larger than the limit of ${request.routeOptions.bodyLimit ?? 'the configured'} bytes`;
    }
    return reply.status(status).send({ code, message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      code: ErrorCode.notFound,
      message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}`,
    }),
  );
}
