// The errors of src/errors on the wire, rendered in one place (renderError) the
// way Glance's webob exceptions look: clients only read the status and the
// request id, but the body shape matches so logs and tools stay familiar.

import { ApiError, codeForStatus, isApiError } from '../errors/index.js';

const TITLES: Record<number, string> = {
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  416: 'Request Range Not Satisfiable',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** An answer known by its status only: another node's, relayed as it came. */
export class HttpError extends ApiError {
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(codeForStatus(status), message, headers, status);
  }
}

/** True when the error is one of ours (as opposed to a bug or an I/O failure). */
export { isApiError as isHttpError };

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Render like webob: it offers text/html then application/json, so HTML wins
 * for browsers, curl (no Accept) and "any type"; JSON when the client asks only for it
 * (as the OpenStack clients and Tempest do); plain text for anything else.
 */
export function renderError(err: ApiError, accept: string | undefined): { contentType: string; body: string } {
  const title = TITLES[err.status] ?? 'Error';
  const status = `${err.status} ${title}`;
  const a = (accept ?? '').toLowerCase();
  const json = a.includes('application/json') || a.includes('application/*');
  const html = a === '' || a.includes('text/html') || a.includes('text/*') || a.includes('*/*');
  if (html && !(json && !a.includes('text/html'))) {
    const body = `<html>\n <head>\n  <title>${status}</title>\n </head>\n <body>\n  <h1>${status}</h1>\n  ${escapeHtml(err.message)}<br /><br />\n\n\n\n </body>\n</html>`;
    return { contentType: 'text/html; charset=UTF-8', body };
  }
  if (json) {
    return {
      contentType: 'application/json',
      body: JSON.stringify({ message: `${err.message}<br /><br />\n\n\n`, code: status, title }),
    };
  }
  return { contentType: 'text/plain; charset=UTF-8', body: `${status}\n\n${err.message}\n\n\n` };
}

/** The explanation in an error body rendered as above (by imago or Glance), for errors relayed from another node. */
export function errorBodyMessage(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message.replace(/<br \/>[\s\S]*$/, '').trim() || undefined;
  } catch {
    // not JSON: the HTML page
  }
  const html = /<\/h1>([\s\S]*?)<br \/>/.exec(body);
  if (html) return html[1]!.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c))).trim() || undefined;
  const plain = /^\d{3} [^\n]*\n\n([\s\S]*)$/.exec(body);
  return plain?.[1]!.trim() || undefined;
}
