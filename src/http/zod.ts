import type { FastifyInstance, FastifyTypeProvider } from 'fastify';
import type { z } from 'zod';

/** Request types inferred from zod schemas in a route's `schema`. */
export interface ZodTypeProvider extends FastifyTypeProvider {
  validator: this['schema'] extends z.ZodType ? z.output<this['schema']> : unknown;
  serializer: this['schema'] extends z.ZodType ? z.input<this['schema']> : unknown;
}

function isZod(schema: unknown): schema is z.ZodType {
  return typeof (schema as { safeParse?: unknown } | null)?.safeParse === 'function';
}

/**
 * Requests are validated by the route's zod schemas: the first problem becomes the 400's message,
 * named by its field. Responses are declared with zod schemas too (route tests check bodies against
 * them) and written with JSON.stringify, so a large pool is not walked twice per request.
 */
export function installZodCompilers(app: FastifyInstance): void {
  app.setValidatorCompiler(({ schema }) => {
    if (!isZod(schema)) return () => true;
    return (data: unknown) => {
      const result = schema.safeParse(data);
      if (result.success) return { value: result.data };
      const issue = result.error.issues[0];
      const field = issue?.path.join('.') ?? '';
      const message = issue?.message ?? 'invalid request';
      return { error: new Error(message.includes(field) || field === '' ? message : `${field}: ${message}`) };
    };
  });
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
}
