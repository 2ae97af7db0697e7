/**
 * The studio's HTTP basics: the error type routes throw, the guards every request passes (Host for DNS
 * rebinding, Origin for cross-site requests), the security headers, and the JSON error answers.
 */
import type { FastifyInstance } from 'fastify';
import { limits } from './schemas.js';

/** An error whose message is safe and useful to show the client, with its HTTP status (and extra headers). */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const statusText: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * The page may load only its own scripts, styles, images and API; nobody may frame it (clickjacking). uPlot
 * sets element styles from script, which CSP allows; 'unsafe-inline' styles cover the style attributes it writes.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Host header without port and IPv6 brackets. */
function hostName(host: string | undefined): string {
  return (host ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
}

/**
 * A request the browser marks as coming from another site: an Origin header that is not this server's own
 * (scheme, host and port of the Host header), or `Sec-Fetch-Site: cross-site`. Requests without an Origin
 * (curl, scripts, same-origin GETs) pass.
 */
export function crossSite(headers: Record<string, string | string[] | undefined>): string | undefined {
  const fetchSite = headers['sec-fetch-site'];
  if (fetchSite === 'cross-site') return 'a cross-site request';
  const origin = headers.origin;
  if (typeof origin !== 'string' || origin === '') return undefined;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return `Origin "${origin}"`;
  }
  if (origin === 'null' || url.host !== (headers.host ?? '')) return `Origin ${origin}`;
  return undefined;
}

export function registerHttpBasics(app: FastifyInstance, allowedHosts: readonly string[]): void {
  // JSON only: a text/plain POST is a "simple" cross-site request that needs no CORS preflight, so refuse it (415).
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (request) => {
    if (allowedHosts.length > 0) {
      const host = hostName(request.headers.host);
      if (!allowedHosts.includes(host)) throw new HttpError(403, `host "${host}" is not allowed; open the studio at its loopback address`);
    }
    if (request.url.startsWith('/api/')) {
      const foreign = crossSite(request.headers);
      if (foreign) throw new HttpError(403, `${foreign} may not use the studio's API; open the studio itself`);
    }
  });
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-frame-options', 'DENY');
  });

  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown; code?: string }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) request.log.error(error);
    let message = error.message;
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = `request body is larger than ${limits.bodyBytes} bytes`;
    else if (error.validation) message = `invalid request: ${error.message}`;
    if (error instanceof HttpError) for (const [k, v] of Object.entries(error.headers)) void reply.header(k, v);
    void reply.status(status).send({ statusCode: status, error: statusText[status] ?? (status >= 500 ? 'Server Error' : 'Client Error'), message });
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `no such route: ${request.method} ${request.url.split('?')[0]}` });
  });
}
