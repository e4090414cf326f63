import { restUrl } from '../base-url.ts';
import { PomboApiError } from '../errors.ts';

export interface HttpOptions {
  baseUrl: string;
  apiKey: string | undefined;
  fetch: typeof fetch;
}

/** JSON over HTTP with the `apikey` header; an error answer becomes a `PomboApiError`. */
export class Http {
  constructor(private readonly options: HttpOptions) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.options.apiKey) headers.apikey = this.options.apiKey;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.options.fetch(restUrl(this.options.baseUrl, path), {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    const parsed = text ? parseJson(text) : undefined;
    if (!response.ok) throw apiError(response.status, parsed, text);
    return parsed as T;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function apiError(status: number, body: unknown, text: string): PomboApiError {
  const error = body as { code?: string; response?: { message?: unknown } } | undefined;
  const messages = error?.response?.message;
  const list = Array.isArray(messages) ? messages.map(String) : [text];
  return new PomboApiError(status, typeof error?.code === 'string' ? error.code : undefined, list);
}

/** An instance name or id as a path segment. */
export const segment = (value: string): string => encodeURIComponent(value);
